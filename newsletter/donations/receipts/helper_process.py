"""Receipts rendered and mailed in a helper process, beside the web process.

Rendering templates and writing mail are CPU work; done on threads of the web
process they compete with every request for the interpreter lock, and under a
burst of webhooks that costs more than the work itself. A one-process pool
(spawned, never forked from a threaded server) does it instead: the web process
only hands over a small ``Receipt`` and waits on a pipe.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from newsletter.config import Settings
from newsletter.donations.receipts.content import Receipt
from newsletter.donations.receipts.mail import DonorMailer
from newsletter.mail.transports.base import TransportUnavailable

MailerFactory = Callable[[Settings], DonorMailer]
"""Builds the helper's mailer from settings (a module-level function: it is pickled)."""

_mailer: DonorMailer | None = None


def _start(settings: Settings, build: MailerFactory) -> None:
    global _mailer
    # Ctrl-C or a service stop reaches the whole process group: the helper ignores it
    # and is stopped by the web process once the courier has sent what was queued.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _mailer = build(settings)
    parent = os.getppid()
    threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()


def _orphan_watch(parent: int) -> None:
    """Leave when the web process is gone (even killed): its claims lapse, reconcile
    resends; a helper outliving it would only hold memory."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _send(receipt: Receipt) -> None:
    if _mailer is None:
        raise RuntimeError("the helper process was not started with settings")
    _mailer.send(receipt)


class ProcessMailer:
    """A ``ReceiptSender`` whose sends run in one spawned helper process."""

    def __init__(self, settings: Settings, build: MailerFactory) -> None:
        """``build`` makes the mailer inside the helper (``newsletter.wiring.donor_mailer``)."""
        self.settings = settings
        self.build = build
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise TransportUnavailable("the receipt helper has stopped (shutting down)")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self.settings, self.build),
                )
            return self._pool

    def send(self, receipt: Receipt) -> None:
        """Raises what the helper raised (the receipt is then released and retried)."""
        pool = self._executor()
        try:
            pool.submit(_send, receipt).result()
        except BrokenProcessPool:
            with self._lock:  # the helper died: the next receipt starts a new one
                if self._pool is pool:
                    self._pool = None
            raise

    def close(self) -> None:
        """Stop the helper once the courier has sent what was queued."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
