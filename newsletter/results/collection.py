"""Reading the bounce mailbox on a schedule, and remembering that it was read.

``collect_bounces`` is the one call every scheduler makes; each run is recorded in
``bounce_collections`` with what it found or why it failed, so a report can say
"bounces last collected at ..." and "no bounces" never means "never checked". Reading
twice is harmless (every bounce event has a fingerprint), but two processes reading
one mailbox at once is wasted work and, with IMAP, two sessions fighting over the same
messages. So ``Collector`` runs every ``COLLECT_EVERY`` seconds in ``newsletter worker``
and in the sending loop of ``newsletter serve`` alike, and collects only while its
process holds the collection lease (``bounce_collection_lease``): one conditional
UPDATE decides, so two processes never both hold it, and a holder that dies is
replaced once its lease has run out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns.bounces import mailbox, parse, process
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.results.models import BounceCollection, CollectionLease
from subscribers.orm import utcnow

log = logging.getLogger(__name__)

COLLECT_EVERY = 600.0  # seconds between two reads of the bounce mailbox
LEASE_RUNS = 2.5  # a lease lasts this many runs: one slow or missed run does not lose it
LEASE_NAME = "bounces"
_LEASE = cast(Table, CollectionLease.__table__)
_FREED = datetime(1970, 1, 1, tzinfo=UTC)  # an ``until`` that every clock has passed


@dataclass(frozen=True)
class Collection:
    messages: int
    events: int
    error: str = ""


def collect_bounces(
    settings: Settings, sessions: sessionmaker[Session], *, now: datetime | None = None
) -> Collection | None:
    """Read ``NEWSLETTER_BOUNCE_MAILBOX`` once and apply the bounce policy; None if no
    mailbox is set up. Never raises for an unreadable mailbox: the failure is recorded
    (and shown in reports) and the next run tries again."""
    source = settings.bounce_mailbox
    if not source:
        return None
    messages = events = 0
    error = ""
    try:
        for raw in mailbox.read(source):
            messages += 1
            found = process.events_from_report(settings, parse.parse(raw), raw)
            if not found:
                continue
            with database.transaction(sessions) as session:
                done = process.apply(session, settings, found)
            events += sum(done.events.values())
    except (NewsletterError, OSError) as exc:
        error = str(exc)[:500] or type(exc).__name__
    with database.transaction(sessions) as session:
        session.add(
            BounceCollection(
                collected_at=now or utcnow(), messages=messages, events=events, error=error
            )
        )
    return Collection(messages, events, error)


def claim(sessions: sessionmaker[Session], holder: str, now: datetime, seconds: float) -> bool:
    """Take the collection lease, or renew it, until ``now + seconds``; False while
    another process holds an unexpired one."""
    until = now + timedelta(seconds=seconds)
    with database.transaction(sessions) as session:
        conn = session.connection()
        dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(_LEASE)
            .values(name=LEASE_NAME, holder="", until=_FREED)
            .on_conflict_do_nothing(index_elements=[_LEASE.c.name])
        )
        taken = conn.execute(
            update(_LEASE)
            .where(
                _LEASE.c.name == LEASE_NAME,
                or_(_LEASE.c.holder == holder, _LEASE.c.until < now),
            )
            .values(holder=holder, until=until)
        )
        return bool(taken.rowcount)


def release(sessions: sessionmaker[Session], holder: str) -> None:
    """Give the lease up (a clean stop), so another process need not wait for it to run out."""
    with database.transaction(sessions) as session:
        session.execute(
            update(_LEASE)
            .where(_LEASE.c.name == LEASE_NAME, _LEASE.c.holder == holder)
            .values(until=_FREED)
        )


@dataclass
class Collector:
    """One process's turn at the bounce mailbox, every ``every`` seconds while it runs."""

    settings: Settings
    sessions: sessionmaker[Session]
    holder: str
    every: float = COLLECT_EVERY
    clock: Callable[[], datetime] = utcnow
    runs: int = field(default=0, init=False)  # collections made by this process

    def tick(self) -> Collection | None:
        """Collect now if this process holds the lease; None if not (or no mailbox)."""
        if not self.settings.bounce_mailbox:
            return None
        now = self.clock()
        if not claim(self.sessions, self.holder, now, self.every * LEASE_RUNS):
            return None
        done = collect_bounces(self.settings, self.sessions, now=now)
        self.runs += 1
        return done

    def run(self, stop: threading.Event, wait: Callable[[float], object] | None = None) -> None:
        """Tick now and then every ``every`` seconds until ``stop`` is set (a thread body);
        ``wait`` (default ``stop.wait``) is what passes the time between two ticks."""
        pause = wait or stop.wait
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # the database is away: the next tick tries again
                    log.warning("bounce collection skipped: %s", exc)
                pause(self.every)
        finally:
            try:
                release(self.sessions, self.holder)
            except Exception as exc:
                log.debug("bounce collection lease not released: %s", exc)

    def start(
        self, stop: threading.Event, wait: Callable[[float], object] | None = None
    ) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(stop, wait), name="bounce-collection", daemon=True
        )
        thread.start()
        return thread
