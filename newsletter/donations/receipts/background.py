"""A background sender for receipts already claimed in their gift's transaction.

The webhook answers Stripe as soon as the gift is committed; rendering, signing and
writing the mail (a Maildir fsync, or an SMTP exchange) happen on its own threads,
so a slow mail transport never holds an HTTP connection or a request thread. A
receipt that cannot be sent is released (its gift goes back to "receipt pending")
and retried after a pause; ``close`` sends whatever is queued before the process
exits, so a graceful shutdown loses nothing. Sent receipts are marked in batches
(about half a second late); if the process dies first, their claims lapse and
``donations reconcile`` sends them again, so a crash loses none.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from newsletter.donations.receipts.content import Receipt
from newsletter.donations.receipts.delivery import (
    ReceiptSender,
    mark_sent,
    release,
    send_pending,
    still_ours,
)

log = logging.getLogger(__name__)
SENT, FAILED, TAKEN = "sent", "failed", "taken"  # what became of one queued receipt
RETRY_AFTER = 30.0  # seconds before a released receipt is tried again
SENDERS = 2
MARK_EVERY = 50  # receipts marked sent in one statement at most...
MARK_AFTER = 0.5  # ...and at the latest this many seconds after the first was mailed


class ReceiptCourier:
    """Sends queued receipts on daemon threads (``senders`` of them, so the next receipt
    is already handed over while the mailer is busy with one)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: ReceiptSender,
        *,
        retry_after: float = RETRY_AFTER,
        senders: int = SENDERS,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.retry_after = retry_after
        self.senders = max(1, senders)
        self._queue: queue.Queue[Receipt | None] = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def put(self, receipts: Iterable[Receipt]) -> None:
        """Queue claimed receipts; they go out after the caller's response.

        Once closed (the app is stopping) they are sent here and now instead.
        """
        with self._lock:
            closed = self._closed
            if not closed and not self._threads:
                for n in range(self.senders):
                    thread = threading.Thread(
                        target=self._run, name=f"receipt-courier-{n}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
        for receipt in receipts:
            if closed:
                if self._send(receipt, set()) == SENT:
                    self._mark([receipt.gift_id])
            else:
                self._queue.put(receipt)

    def close(self, timeout: float = 30.0) -> None:
        """Send everything queued, then stop the threads (called at shutdown)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        released: set[int] = set()  # this thread's receipts given back after a failure
        sent: list[int] = []  # mailed, not yet marked sent
        retry_at = mark_at = 0.0
        while True:
            now = time.monotonic()
            if sent and (len(sent) >= MARK_EVERY or now >= mark_at):
                self._mark(sent)
            deadlines = ([retry_at] if released else []) + ([mark_at] if sent else [])
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            try:
                receipt = self._queue.get(timeout=wait)
            except queue.Empty:
                pass  # time to retry the released ones, or to mark the sent ones
            else:
                if receipt is None:
                    self._mark(sent)
                    return  # closed: receipts still released stay pending for reconcile
                outcome = self._send(receipt, released)
                if outcome == FAILED and len(released) == 1:
                    retry_at = time.monotonic() + self.retry_after  # first failure: wait
                elif outcome == SENT:
                    if not sent:
                        mark_at = time.monotonic() + MARK_AFTER
                    sent.append(receipt.gift_id)
            if released and time.monotonic() >= retry_at:
                self._retry(released)
                retry_at = time.monotonic() + self.retry_after

    def _mark(self, sent: list[int]) -> None:
        """Mark a batch sent; if that fails the claims lapse and reconcile resends them."""
        try:
            mark_sent(self.sessions, sent)
        except Exception:
            log.exception("receipts for gifts %s sent but not marked", sent)
        sent.clear()

    def _send(self, queued: Receipt, released: set[int]) -> str:
        """Send one claimed receipt: SENT; FAILED (released for a retry); or TAKEN, when
        it waited so long that its claim lapsed and another process took it over."""
        try:
            receipt = still_ours(self.sessions, queued)
        except Exception:
            log.exception(
                "receipt for gift %s: claim not checked; reconcile sends it", queued.gift_id
            )
            return TAKEN
        if receipt is None:
            return TAKEN
        try:
            self.sender.send(receipt)
            return SENT
        except BaseException:  # a helper interrupted by a signal included: never lose the thread
            log.exception("receipt for gift %s not sent; retrying later", receipt.gift_id)
        try:
            release(self.sessions, receipt)
            released.add(receipt.gift_id)
        except Exception:
            log.exception("receipt for gift %s could not be released", receipt.gift_id)
        return FAILED

    def _retry(self, released: set[int]) -> None:
        """Claim and send the released receipts again (another worker may have won them)."""
        ids = sorted(released)
        released.clear()
        for gift_id in ids:
            try:
                send_pending(self.sessions, self.sender, [gift_id])
            except Exception:
                log.exception("receipt for gift %s still not sent", gift_id)
                released.add(gift_id)
