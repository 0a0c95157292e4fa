"""Where returned mail is read from: a Maildir, an mbox file, a folder of .eml files, or IMAP.

Reading never changes the mailbox: processing is idempotent (every event has a
fingerprint), so running the command twice over the same mail counts nothing twice.
"""

from __future__ import annotations

import imaplib
import mailbox
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from newsletter.errors import ConfigError, NewsletterError, NotFound


class MailboxError(NewsletterError, OSError):
    """A source that cannot be read (not a mailbox, IMAP login refused...)."""


def read(source: str) -> Iterator[bytes]:
    """The raw bytes of every message in ``source``."""
    if source.startswith(("imap://", "imaps://")):
        yield from _imap(source)
        return
    path = Path(source)
    if not path.exists():
        raise NotFound(f"{source}: no such Maildir, mbox or file")
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in box.iterkeys():
                yield box.get_bytes(key)
            return
        for item in sorted(path.iterdir()):
            if item.is_file() and item.suffix.lower() in (".eml", ".msg", ".txt"):
                yield item.read_bytes()
        return
    head = path.read_bytes()[:5]
    if head == b"From ":
        box_m = mailbox.mbox(path, create=False)
        for key in box_m.iterkeys():
            yield box_m.get_bytes(key)
        return
    yield path.read_bytes()


def _imap(url: str) -> Iterator[bytes]:
    """``imaps://user:password@host[:port]/FOLDER``: every message of FOLDER, read-only."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.username:
        raise ConfigError("an IMAP source looks like imaps://user:password@host/INBOX")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    try:
        client: imaplib.IMAP4 = (
            imaplib.IMAP4_SSL(parts.hostname, parts.port or 993)
            if parts.scheme == "imaps"
            else imaplib.IMAP4(parts.hostname, parts.port or 143)
        )
        client.login(unquote(parts.username), unquote(parts.password or ""))
        client.select(folder, readonly=True)
        _, data = client.search(None, "ALL")
        for number in (data[0] or b"").split():
            _, fetched = client.fetch(number.decode(), "(BODY.PEEK[])")
            for item in fetched:
                if isinstance(item, tuple):
                    yield bytes(item[1])
        client.logout()
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"cannot read {parts.hostname}/{folder} over IMAP: {exc}") from None
