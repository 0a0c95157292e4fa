"""Reading the bounce mailbox on a schedule, and remembering that it was read.

``collect_bounces`` is the one call every scheduler makes (``newsletter worker`` does
every ``COLLECT_EVERY`` seconds); each run is recorded in ``bounce_collections`` with
what it found or why it failed, so a report can say "bounces last collected at ..."
and "no bounces" never means "never checked". Reading twice is harmless: every bounce
event has a fingerprint, so a message already counted is not counted again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns.bounces import mailbox, parse, process
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.results.models import BounceCollection
from subscribers.orm import utcnow

COLLECT_EVERY = 600.0  # seconds between two reads of the bounce mailbox


@dataclass(frozen=True)
class Collection:
    messages: int
    events: int
    error: str = ""


def collect_bounces(settings: Settings, sessions: sessionmaker[Session]) -> Collection | None:
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
            BounceCollection(collected_at=utcnow(), messages=messages, events=events, error=error)
        )
    return Collection(messages, events, error)


def collect_until(
    settings: Settings,
    sessions: sessionmaker[Session],
    stop: threading.Event,
    every: float = COLLECT_EVERY,
) -> None:
    """Collect now and then every ``every`` seconds until ``stop`` is set (a thread body)."""
    while not stop.is_set():
        collect_bounces(settings, sessions)
        stop.wait(every)
