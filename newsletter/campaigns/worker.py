"""The worker loop: claim a batch, re-check each person, compose, send, settle, repeat.

The worker only knows small interfaces: a ``Ledger`` for rows, a ``Composer`` per
campaign that turns a ledger row into an envelope, and a transport factory (one
transport per concurrent connection). Per-campaign work (rendering, identity, signer)
happens once, in the composer factory. With a ``ComposePool`` big batches are composed
and signed in helper processes, so this process only talks SMTP and keeps the ledger,
and the next batch is claimed while the current one is on the wire. A stop event
(SIGTERM, Ctrl-C) lets the message in flight finish, gives back the rest and returns.
A database outage pauses the loop instead of ending it (see ``outage``): outcomes
of messages already handed to the relay are held until the database is back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from newsletter.campaigns import heartbeat
from newsletter.campaigns.feed import Abort, Feed
from newsletter.campaigns.ledger import Claimed, Ledger, Outcome
from newsletter.campaigns.models import CampaignStatus, RecipientState
from newsletter.campaigns.outage import Reconnect, still_claimed
from newsletter.campaigns.throttle import RateLimiter, backoff
from newsletter.database import lost
from newsletter.errors import NewsletterError
from newsletter.mail.transports.base import (
    Delivery,
    DeliveryStatus,
    Transport,
    TransportRejected,
    TransportUnavailable,
)
from subscribers.orm import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str  # the VERP return path
    recipient: str
    message: bytes
    message_id: str


class Composer(Protocol):
    """Builds one recipient's signed message; made once per campaign."""

    def compose(self, row: Claimed) -> Envelope: ...


class Composing(Protocol):
    """Copies under way elsewhere, in row order; ``close`` cancels the rest."""

    def __next__(self) -> Envelope | NewsletterError: ...

    def close(self) -> None: ...


class ComposePool(Protocol):
    """Composes many rows elsewhere (helper processes), starting at once."""

    def compose(self, campaign_id: int, rows: Sequence[Claimed]) -> Composing: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


ComposerFactory = Callable[[int], Composer]
TransportFactory = Callable[[], Transport]
BounceSink = Callable[[int, Sequence[tuple[Claimed, Delivery]]], None]


@dataclass(frozen=True)
class RetryPolicy:
    limit: int = 5  # attempts before a temporary failure becomes final
    delay: float = 60.0  # seconds before the first retry, doubled each time
    cap: float = 3600.0


@dataclass
class BatchReport:
    """What one batch did, for progress bars."""

    campaign_id: int
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    released: int = 0


@dataclass
class WorkerStats:
    batches: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    stopped_campaigns: list[int] = field(default_factory=list)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _Batch:
    """Claimed rows, re-checked against unsubscribes, their copies being composed."""

    rows: list[Claimed]
    skipped: list[Outcome]
    todo: list[Claimed]
    feed: Feed


class Worker:
    def __init__(
        self,
        ledger: Ledger,
        *,
        composer_for: ComposerFactory,
        transport_factory: TransportFactory,
        owner: str | None = None,
        batch: int = 200,
        lease_seconds: float = 300.0,
        rate: float = 0.0,
        connections: int = 1,
        retry: RetryPolicy | None = None,
        bounce_sink: BounceSink | None = None,
        stop: threading.Event | None = None,
        poll_seconds: float = 1.0,
        on_batch: Callable[[BatchReport], None] | None = None,
        pool: ComposePool | None = None,
        pool_from: int = 64,
        standby: bool = False,
    ) -> None:
        """``standby``: the loop inside ``newsletter serve``, which leaves campaigns to
        live dedicated workers and picks up those that have had none for a lease."""
        self.ledger = ledger
        self.composer_for = composer_for
        self.transport_factory = transport_factory
        self.owner = owner or default_owner()
        self.batch = max(1, batch)
        if rate > 0:
            # A batch must be sent well within its lease, or another worker takes it over.
            self.batch = min(self.batch, max(1, int(rate * lease_seconds / 2)))
        self.lease_seconds = lease_seconds
        self.limiter = RateLimiter(rate)
        self.connections = max(1, connections)
        self.retry = retry or RetryPolicy()
        self.bounce_sink = bounce_sink
        self.stop = stop or threading.Event()
        self.poll_seconds = poll_seconds
        self.on_batch = on_batch
        self.stats = WorkerStats()
        self.pool = pool
        self.pool_from = pool_from  # smaller batches are composed here: no process start-up
        self._composers: dict[int, Composer] = {}
        self._transports: list[Transport | None] = [None] * self.connections
        self._unavailable_streak = 0
        self._quiet_until = 0.0  # monotonic time before which the server is left alone
        self.standby = standby
        self.reconnect = Reconnect(self.stop)
        # Outcomes (and bounces) of messages already handed to the relay, not yet written
        # because the database was away: written first thing when it is back.
        self._held: list[Outcome] = []
        self._bounced: list[tuple[int, list[tuple[Claimed, Delivery]]]] = []

    # -- the loop ---------------------------------------------------------------------

    def run(self, *, once: bool = False, campaign_ids: Sequence[int] | None = None) -> WorkerStats:
        """Send until stopped; with ``once``, return when nothing is left to do right now.

        "Nothing left" means no row is due and no row is held by another worker, so a
        ``--once`` run after a crash waits for the dead worker's lease to expire and
        then finishes its rows. Deferred rows whose retry time is later are left for
        a long-running worker.
        """
        if self.pool is not None:
            self.pool.start()  # before any connection or thread of ours exists
        pulse = heartbeat.Pulse(
            self.ledger, self.owner, self.lease_seconds, scope=campaign_ids, standby=self.standby
        )
        try:
            while not self.stop.is_set():
                try:
                    if self._round(once=once, campaign_ids=campaign_ids):
                        break
                except Exception as exc:
                    if not lost(exc):
                        raise
                    if not self.reconnect.wait(exc, self._recover, lambda: len(self._held), lost):
                        break
        finally:
            pulse.close()
            self.close()
            if self.pool is not None:
                self.pool.close()
        return self.stats

    def _round(self, *, once: bool, campaign_ids: Sequence[int] | None) -> bool:
        """Start what is due, drain every sending campaign, idle; True: ``once`` is done."""
        only = campaign_ids
        if self.standby:
            ours = heartbeat.left_to_standby(self.ledger.engine)
            only = [c for c in ours if campaign_ids is None or c in campaign_ids]
        self.ledger.start_due(only=only)
        wanted = self.ledger.sending_campaigns()
        if only is not None:
            wanted = [c for c in wanted if c in only]
        worked = False
        waiting: list[datetime] = []
        for campaign_id in wanted:
            worked |= self._drain(campaign_id)
            if self.stop.is_set():
                return False
            if not self.ledger.finish_if_settled(campaign_id):
                held = self._held_elsewhere(campaign_id)
                if held is not None:
                    waiting.append(held)
        if self.stop.is_set():
            return False
        if once and not worked and not waiting:
            return True
        if not worked:
            self.stop.wait(self._idle_delay(waiting))
        return False

    def _settle(self, outcomes: Sequence[Outcome]) -> None:
        """Write outcomes (after any held ones); held in memory while the database is away."""
        self._held.extend(outcomes)
        if self._held:
            self.ledger.settle(self.owner, self._held)
            self._held.clear()
        while self._bounced:
            campaign_id, failures = self._bounced[0]
            if self.bounce_sink is not None:
                self.bounce_sink(campaign_id, failures)
            self._bounced.pop(0)

    def _recover(self) -> int:
        """Once the database answers: write held outcomes, give back rows still claimed.

        Between batches this worker sends nothing, so any row still leased to it was
        claimed for a batch the outage cut short (or by a claim whose reply was lost):
        it goes back to the queue untried, or its lease would be renewed forever.
        """
        written = len(self._held)
        self._settle([])
        self.ledger.release(self.owner, still_claimed(self.ledger, self.owner))
        return written

    def close(self) -> None:
        for index, transport in enumerate(self._transports):
            if transport is not None:
                try:
                    transport.close()
                except Exception:  # closing a broken connection must not hide the real error
                    log.debug("closing transport failed", exc_info=True)
                self._transports[index] = None

    def _idle_delay(self, waiting: list[datetime]) -> float:
        if not waiting:
            return self.poll_seconds
        until = (min(waiting) - utcnow()).total_seconds()
        return max(0.05, min(self.poll_seconds, until))

    def _held_elsewhere(self, campaign_id: int) -> datetime | None:
        """When a row leased by another worker becomes claimable (None: no such row)."""
        counts = self.ledger.counts(campaign_id)
        if counts[RecipientState.SENDING] == 0:
            return None
        return self.ledger.next_due(campaign_id)

    def _drain(self, campaign_id: int) -> bool:
        """Send batches of one campaign while it is sending and rows are due.

        The next batch is claimed and its copies started while this one is on the
        wire, so the helpers never wait for the ledger. It is only claimed, not sent:
        a crash still repeats at most the batch in flight.
        """
        worked = False
        batch = self._next_batch(campaign_id)
        while batch is not None:
            worked = True
            batch = self._send_batch(campaign_id, batch)
            if batch is None:
                break
            try:
                if self.ledger.status(campaign_id) != CampaignStatus.SENDING or (
                    self.standby and heartbeat.standing_aside(self.ledger.engine, campaign_id)
                ):  # paused meanwhile, or a dedicated worker is back: leave it the rest
                    self._give_back(batch)
                    break
                self._recheck(campaign_id, batch)
            except BaseException:
                batch.feed.close()  # its rows go back once the database answers
                raise
        return worked

    def _recheck(self, campaign_id: int, batch: _Batch) -> None:
        """Skip people who left while their batch waited, so the check stays at send time."""
        late = self.ledger.blocked(campaign_id, batch.todo)
        if late:
            batch.feed.drop(set(late))
            batch.skipped += [
                Outcome(rid, RecipientState.SKIPPED, reply=w) for rid, w in late.items()
            ]
            batch.todo = [row for row in batch.todo if row.id not in late]

    def _next_batch(self, campaign_id: int) -> _Batch | None:
        """Claim due rows, re-check each person, start composing (None: nothing to do now)."""
        if self.stop.is_set() or time.monotonic() < self._quiet_until:
            return None  # stopping, or the mail server is unavailable until the backoff ends
        if self.ledger.status(campaign_id) != CampaignStatus.SENDING:
            return None
        rows = self.ledger.claim(
            campaign_id, self.owner, batch=self.batch, lease_seconds=self.lease_seconds
        )
        if not rows:
            return None
        composer = self._composer(campaign_id, rows)
        if composer is None:
            return None
        skip = self.ledger.blocked(campaign_id, rows)
        skipped = [Outcome(rid, RecipientState.SKIPPED, reply=why) for rid, why in skip.items()]
        todo = [row for row in rows if row.id not in skip]
        composing = None
        if self.pool is not None and len(todo) >= self.pool_from:
            composing = self.pool.compose(campaign_id, todo)
        return _Batch(rows, skipped, todo, Feed(todo, composer, composing))

    def _give_back(self, batch: _Batch, retry_at: datetime | None = None, reason: str = "") -> None:
        """Settle a batch that will not be sent now: skips are final, the rest queued."""
        batch.feed.close()
        released = [
            Outcome(row.id, RecipientState.QUEUED, reply=reason, next_attempt_at=retry_at)
            for row in batch.todo
        ]
        self._settle(batch.skipped + released)

    def _composer(self, campaign_id: int, rows: list[Claimed]) -> Composer | None:
        composer = self._composers.get(campaign_id)
        if composer is None:
            try:
                composer = self.composer_for(campaign_id)
            except NewsletterError as exc:
                self.ledger.release(self.owner, [r.id for r in rows])
                self.ledger.stop(campaign_id, f"cannot build the message: {exc}")
                self.stats.stopped_campaigns.append(campaign_id)
                return None
            self._composers[campaign_id] = composer
        return composer

    # -- one batch --------------------------------------------------------------------

    def _send_batch(self, campaign_id: int, batch: _Batch) -> _Batch | None:
        """Send one batch and settle every row; return the next batch, claimed meanwhile.

        None when there is nothing more to send now, or the campaign must pause.
        """
        report = BatchReport(campaign_id)
        outcomes = list(batch.skipped)
        todo, feed = batch.todo, batch.feed
        abort = Abort()
        lanes = min(self.connections, max(1, len(todo)))
        results: list[list[tuple[Claimed, Outcome, Delivery | None]]] = [[] for _ in range(lanes)]
        following: _Batch | None = None
        outage: Exception | None = None
        try:
            threads = [
                threading.Thread(
                    target=lambda i=i: results.__setitem__(i, self._lane(i, feed, abort)),
                    daemon=True,
                )
                for i in range(lanes)
            ]
            for thread in threads:
                thread.start()
            try:
                following = self._next_batch(campaign_id)
            except Exception as exc:  # the copies on the wire still finish and are held
                if not lost(exc):
                    raise
                outage = exc
            finally:
                for thread in threads:
                    thread.join()
        finally:
            feed.close()

        done = {row.id for lane in results for row, _, _ in lane}
        permanent: list[tuple[Claimed, Delivery]] = []
        for lane in results:
            for row, outcome, delivery in lane:
                outcomes.append(outcome)
                if delivery is not None and delivery.status == DeliveryStatus.PERMANENT:
                    permanent.append((row, delivery))
        untried = [row.id for row in todo if row.id not in done]
        retry_at = None
        pause_reason = ""
        if abort.unavailable is not None:
            pause_reason = f"deferred: mail server unavailable ({abort.unavailable})"
            self._unavailable_streak += 1
            pause = backoff(self._unavailable_streak, base=max(1.0, self.retry.delay / 4), cap=300)
            retry_at = utcnow() + timedelta(seconds=pause)
            self._quiet_until = time.monotonic() + pause
        outcomes.extend(
            Outcome(rid, RecipientState.QUEUED, reply=pause_reason, next_attempt_at=retry_at)
            for rid in untried
        )
        for o in outcomes:
            if o.state == RecipientState.QUEUED:
                report.released += 1
            elif o.state == RecipientState.SENT:
                report.sent += 1
            elif o.state == RecipientState.FAILED:
                report.failed += 1
            elif o.state == RecipientState.DEFERRED:
                report.deferred += 1
            elif o.state == RecipientState.SKIPPED:
                report.skipped += 1
        self.stats.batches += 1
        self.stats.sent += report.sent
        self.stats.failed += report.failed
        self.stats.deferred += report.deferred
        self.stats.skipped += report.skipped
        if self.on_batch is not None:
            self.on_batch(report)

        if permanent:
            self._bounced.append((campaign_id, permanent))
        try:
            self._settle(outcomes)
            if outage is not None:
                raise outage
        except BaseException:
            if following is not None:
                following.feed.close()  # claimed only: given back once the database answers
            raise

        if abort.set or self.stop.is_set():
            if following is not None:
                self._give_back(following, retry_at, pause_reason)
            following = None
        if abort.rejected is not None:
            self.ledger.stop(campaign_id, abort.rejected)
            self.stats.stopped_campaigns.append(campaign_id)
        elif abort.unavailable is not None:
            log.warning("transport unavailable (%s); retrying at %s", abort.unavailable, retry_at)
            self.close()
        elif report.sent:
            self._unavailable_streak = 0
        return following

    def _lane(
        self, index: int, feed: Feed, abort: Abort
    ) -> list[tuple[Claimed, Outcome, Delivery | None]]:
        """Send the feed's rows one after another over this lane's own connection."""
        out: list[tuple[Claimed, Outcome, Delivery | None]] = []
        while not (self.stop.is_set() or abort.set):
            try:
                item = feed.next()
            except NewsletterError as exc:  # the composing processes failed: try later
                with abort.lock:
                    abort.unavailable = abort.unavailable or str(exc)
                break
            if item is None:
                break
            row, envelope = item
            if isinstance(envelope, NewsletterError):
                out.append((row, Outcome(row.id, RecipientState.FAILED, reply=str(envelope)), None))
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
                break
            except TransportUnavailable as exc:
                with abort.lock:
                    abort.unavailable = abort.unavailable or str(exc)
                # Not this recipient's fault: the row goes back untried, deferred with the rest.
                self._transports[index] = None
                break
            out.append((row, self._outcome(row, delivery, envelope.message_id), delivery))
        return out

    def _outcome(self, row: Claimed, delivery: Delivery, message_id: str) -> Outcome:
        reply = f"{delivery.code} {delivery.reply}".strip()
        if delivery.status == DeliveryStatus.SENT:
            return Outcome(row.id, RecipientState.SENT, delivery.code, reply, message_id)
        if delivery.status == DeliveryStatus.PERMANENT:
            return Outcome(row.id, RecipientState.FAILED, delivery.code, reply, message_id)
        if row.attempts >= self.retry.limit:
            final = f"{reply} (gave up after {row.attempts} attempts)"
            return Outcome(row.id, RecipientState.FAILED, delivery.code, final, message_id)
        wait = backoff(row.attempts, base=self.retry.delay, cap=self.retry.cap)
        return Outcome(
            row.id,
            RecipientState.DEFERRED,
            delivery.code,
            reply,
            message_id,
            next_attempt_at=utcnow() + timedelta(seconds=wait),
        )
