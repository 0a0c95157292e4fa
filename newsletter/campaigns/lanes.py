"""The sending lanes: one SMTP connection each, sending a batch's rows side by side.

Each lane runs on a thread of a small pool and returns what it sent; lanes take
rows from the batch's ``Feed`` when free, so a slow connection does not hold rows
another could send. The first connection-level error any lane meets stops them all
(``Abort``): a refusal stops the campaign, an unavailable server pauses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from newsletter.campaigns.feed import Abort, Feed
from newsletter.campaigns.ledger import Claimed, Outcome
from newsletter.campaigns.retry import RetryPolicy
from newsletter.campaigns.states import RecipientState
from newsletter.campaigns.throttle import SendPacer
from newsletter.errors import NewsletterError
from newsletter.mail.transports.base import (
    Delivery,
    DeliveryStatus,
    Transport,
    TransportRejected,
    TransportUnavailable,
)
from subscribers.orm import utcnow

log = logging.getLogger("newsletter.campaigns.worker")

TransportFactory = Callable[[], Transport]


@dataclass(frozen=True, slots=True)
class Sent:
    """One row a lane tried: its outcome, and the server's answer if it got one."""

    row: Claimed
    outcome: Outcome
    delivery: Delivery | None


class Lanes:
    """The connections of one worker, kept open from batch to batch."""

    def __init__(
        self,
        transport_factory: TransportFactory,
        *,
        connections: int,
        rate: float,
        retry: RetryPolicy,
        stop: threading.Event,
    ) -> None:
        self.transport_factory = transport_factory
        self.connections = max(1, connections)
        self.limiter = SendPacer(rate)
        self.retry = retry
        self.stop = stop
        self._transports: list[Transport | None] = [None] * self.connections
        # Made on first use: the helper processes are forked before any thread of ours.
        self._executor: ThreadPoolExecutor | None = None

    def start(self, feed: Feed, abort: Abort, rows: int) -> list[Future[list[Sent]]]:
        """Start sending the feed's rows on as many lanes as there are rows (up to the limit)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.connections, thread_name_prefix="lane")
        lanes = min(self.connections, max(1, rows))
        return [self._executor.submit(self._lane, i, feed, abort) for i in range(lanes)]

    def hang_up(self) -> None:
        """Close every connection (they are opened again on the next send)."""
        for index, transport in enumerate(self._transports):
            if transport is not None:
                try:
                    transport.close()
                except Exception:  # closing a broken connection must not hide the real error
                    log.debug("closing transport failed", exc_info=True)
                self._transports[index] = None

    def close(self) -> None:
        """Wait for the lanes' threads to end, then close the connections."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.hang_up()

    def _lane(self, index: int, feed: Feed, abort: Abort) -> list[Sent]:
        """Send the feed's rows one after another over this lane's own connection."""
        out: list[Sent] = []
        try:
            self._send(index, feed, abort, out)
        except Exception as exc:  # an error of our own: keep what was sent, pause the rest
            log.exception("sending lane %d failed", index)
            self._transports[index] = None
            with abort.lock:
                abort.unavailable = abort.unavailable or f"sending failed: {exc}"
        return out

    def _send(self, index: int, feed: Feed, abort: Abort, out: list[Sent]) -> None:
        while not (self.stop.is_set() or abort.set):
            try:
                item = feed.next()
            except NewsletterError as exc:  # the composing processes failed: try later
                with abort.lock:
                    abort.unavailable = abort.unavailable or str(exc)
                return
            if item is None:
                return
            row, envelope = item
            if isinstance(envelope, NewsletterError):
                failed = Outcome(row.id, RecipientState.FAILED, reply=str(envelope))
                out.append(Sent(row, failed, None))
                continue
            self.limiter.acquire()
            try:
                transport = self._transports[index]
                if transport is None:
                    transport = self._transports[index] = self.transport_factory()
                delivery = transport.send(envelope.sender, envelope.recipient, envelope.message)
            except TransportRejected as exc:
                with abort.lock:
                    abort.rejected = abort.rejected or f"the mail server refused us: {exc}"
                return
            except TransportUnavailable as exc:
                with abort.lock:
                    abort.unavailable = abort.unavailable or str(exc)
                # Not this recipient's fault: the row goes back untried, deferred with the rest.
                self._transports[index] = None
                return
            out.append(Sent(row, self.outcome(row, delivery, envelope.message_id), delivery))

    def outcome(self, row: Claimed, delivery: Delivery, message_id: str) -> Outcome:
        """What the server's answer means for this row, under the retry policy."""
        reply = f"{delivery.code} {delivery.reply}".strip()
        if delivery.status == DeliveryStatus.SENT:
            return Outcome(row.id, RecipientState.SENT, delivery.code, reply, message_id)
        if delivery.status == DeliveryStatus.PERMANENT:
            return Outcome(row.id, RecipientState.FAILED, delivery.code, reply, message_id)
        wait = self.retry.retry_in(row.attempts)
        if wait is None:
            final = f"{reply} (gave up after {row.attempts} attempts)"
            return Outcome(row.id, RecipientState.FAILED, delivery.code, final, message_id)
        return Outcome(
            row.id,
            RecipientState.DEFERRED,
            delivery.code,
            reply,
            message_id,
            next_attempt_at=utcnow() + timedelta(seconds=wait),
        )
