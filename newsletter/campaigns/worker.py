"""The worker loop: claim a batch, re-check each person, compose, send, settle, repeat.

The worker only knows small interfaces (``envelope``): a ``Ledger`` for rows, a
``Composer`` per campaign that turns a ledger row into an envelope, and the ``Lanes``
that send it (one connection each). Per-campaign work (rendering, identity, signer)
happens once, in the composer factory. With ``ComposeHelpers`` big batches are
composed and signed in helper processes, so this process only talks SMTP and keeps
the ledger, and the next batch is claimed while the current one is on the wire. The
campaign's status and who may still be mailed are read once per batch, right before
it is sent. A stop event (SIGTERM, Ctrl-C) lets the message in flight finish, gives
back the rest and returns. A database outage pauses the loop instead of ending it
(see ``outage``): outcomes of messages already handed to the relay are held until
the database is back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.campaigns import heartbeat
from newsletter.campaigns.envelope import ComposeHelpers, Composer
from newsletter.campaigns.feed import Abort, Feed
from newsletter.campaigns.lanes import Lanes, Sent, TransportFactory
from newsletter.campaigns.ledger import Claimed, Ledger, Outcome
from newsletter.campaigns.outage import Reconnect, still_claimed
from newsletter.campaigns.progress import BatchReport, WorkerStats
from newsletter.campaigns.retry import RetryPolicy
from newsletter.campaigns.states import CampaignStatus, RecipientState
from newsletter.database import lost
from newsletter.errors import NewsletterError
from newsletter.mail.transports.base import Delivery, DeliveryStatus
from subscribers.orm import utcnow

log = logging.getLogger(__name__)

ComposerFactory = Callable[[int], Composer]
BounceSink = Callable[[int, Sequence[tuple[Claimed, Delivery]]], None]


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _Batch:
    """Claimed rows, their copies being composed; ``skipped`` once re-checked."""

    todo: list[Claimed]
    feed: Feed
    skipped: list[Outcome]


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
        pool: ComposeHelpers | None = None,
        pool_from: int = 64,
        standby: bool = False,
    ) -> None:
        """``standby``: the loop inside ``newsletter serve``, which leaves campaigns to
        live dedicated workers and picks up those that have had none for a lease."""
        self.ledger = ledger
        self.composer_for = composer_for
        self.owner = owner or default_owner()
        self.batch = max(1, batch)
        if rate > 0:
            # A batch must be sent well within its lease, or another worker takes it over.
            self.batch = min(self.batch, max(1, int(rate * lease_seconds / 2)))
        self.lease_seconds = lease_seconds
        self.retry = retry or RetryPolicy()
        self.bounce_sink = bounce_sink
        self.stop = stop or threading.Event()
        self.lanes = Lanes(
            transport_factory,
            connections=connections,
            rate=rate,
            retry=self.retry,
            stop=self.stop,
        )
        self.poll_seconds = poll_seconds
        self.on_batch = on_batch
        self.stats = WorkerStats()
        self.pool = pool
        self.pool_from = pool_from  # smaller batches are composed here: no process start-up
        self._composers: dict[int, Composer] = {}
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
        if self.pool is not None:  # before any connection or thread of ours exists
            self.pool.start(campaign_ids or ())
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
        self.lanes.close()

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
        batch = self._claim(campaign_id)
        while batch is not None and self._cleared(campaign_id, batch):
            worked = True
            batch = self._send_batch(campaign_id, batch)
        return worked

    def _cleared(self, campaign_id: int, batch: _Batch) -> bool:
        """The one check of a batch right before it is sent: is the campaign still
        sending, and who left while the batch waited (skipped, so the audience rule
        holds at send time)? False: the batch was given back."""
        try:
            if self.ledger.status(campaign_id) != CampaignStatus.SENDING or (
                self.standby and heartbeat.standing_aside(self.ledger.engine, campaign_id)
            ):  # paused meanwhile, or a dedicated worker is back: leave it the rest
                self._give_back(batch)
                return False
            late = self.ledger.blocked(campaign_id, batch.todo)
        except BaseException:
            batch.feed.close()  # its rows go back once the database answers
            raise
        if late:
            batch.feed.drop(set(late))
            batch.skipped += [
                Outcome(rid, RecipientState.SKIPPED, reply=w) for rid, w in late.items()
            ]
            batch.todo = [row for row in batch.todo if row.id not in late]
        return True

    def _claim(self, campaign_id: int) -> _Batch | None:
        """Claim due rows and start composing them (None: nothing to do now)."""
        if self.stop.is_set() or time.monotonic() < self._quiet_until:
            return None  # stopping, or the mail server is unavailable until the backoff ends
        rows = self.ledger.claim(
            campaign_id, self.owner, batch=self.batch, lease_seconds=self.lease_seconds
        )
        if not rows:
            return None
        composer = self._composer(campaign_id, rows)
        if composer is None:
            return None
        composing = None
        if self.pool is not None and len(rows) >= self.pool_from:
            composing = self.pool.compose(campaign_id, rows)
        return _Batch(rows, Feed(rows, composer, composing), [])

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
        todo, feed = batch.todo, batch.feed
        abort = Abort()
        following: _Batch | None = None
        outage: Exception | None = None
        sent: list[Sent] = []
        try:
            lanes = self.lanes.start(feed, abort, len(todo))
            try:
                following = self._claim(campaign_id)
            except Exception as exc:  # the copies on the wire still finish and are held
                if not lost(exc):
                    raise
                outage = exc
            finally:
                for lane in lanes:
                    sent += lane.result()
        finally:
            feed.close()

        outcomes = list(batch.skipped) + [s.outcome for s in sent]
        permanent = [
            (s.row, s.delivery)
            for s in sent
            if s.delivery is not None and s.delivery.status == DeliveryStatus.PERMANENT
        ]
        done = {s.row.id for s in sent}
        retry_at = None
        pause_reason = ""
        if abort.unavailable is not None:
            pause_reason = f"deferred: mail server unavailable ({abort.unavailable})"
            self._unavailable_streak += 1
            pause = self.retry.server_pause(self._unavailable_streak)
            retry_at = utcnow() + timedelta(seconds=pause)
            self._quiet_until = time.monotonic() + pause
        outcomes.extend(
            Outcome(row.id, RecipientState.QUEUED, reply=pause_reason, next_attempt_at=retry_at)
            for row in todo
            if row.id not in done
        )
        report = BatchReport.of(campaign_id, outcomes)
        self.stats.add(report)
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
            self.lanes.hang_up()
        elif report.sent:
            self._unavailable_streak = 0
        return following
