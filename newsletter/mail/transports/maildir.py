"""The default transport: a local Maildir outbox, so a demo or a preview sends nowhere.

Each message is written to ``tmp/`` and renamed into ``new/`` (atomic on one file
system), as a delivery agent would, with ``Return-Path`` and ``Delivered-To`` on top
so the envelope is visible. Any mail client or ``mailbox.Maildir`` can read it.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from functools import lru_cache
from pathlib import Path

from newsletter.mail.message import check_value
from newsletter.mail.transports.base import (
    ClosesOnExit,
    Delivery,
    DeliveryStatus,
    TransportUnavailable,
)

_counter = itertools.count()
_prepared: set[Path] = set()  # outboxes known to exist: transports are made per message


@lru_cache(maxsize=1)
def _hostname() -> str:
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


class MaildirTransport(ClosesOnExit):
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._host = _hostname()

    def _prepare(self) -> None:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.directory / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TransportUnavailable(f"cannot create the outbox {self.directory}: {exc}") from exc
        _prepared.add(self.directory)

    def _unique_name(self) -> str:
        now = time.time()
        usec = int((now % 1) * 1_000_000)
        return f"{int(now)}.M{usec}P{os.getpid()}Q{next(_counter)}.{self._host}"

    def send(self, sender: str, recipient: str, message: bytes) -> Delivery:
        check_value("envelope sender", sender)
        check_value("envelope recipient", recipient)
        if self.directory not in _prepared:
            self._prepare()
        envelope = f"Return-Path: <{sender}>\nDelivered-To: {recipient}\n".encode()
        data = envelope + message.replace(b"\r\n", b"\n")
        name = self._unique_name()
        tmp = self.directory / "tmp" / name
        final = self.directory / "new" / name
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:  # the outbox was removed since it was prepared
                self._prepare()
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.rename(tmp, final)
            except FileNotFoundError:  # new/ was removed since the outbox was prepared
                self._prepare()
                os.rename(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise TransportUnavailable(
                f"cannot write to the outbox {self.directory}: {exc}"
            ) from exc
        return Delivery(DeliveryStatus.SENT, 250, f"2.0.0 saved as {final}")

    def close(self) -> None:
        """Nothing is held open between messages."""
