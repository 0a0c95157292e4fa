"""Catching up with Stripe: apply any event the webhook missed (endpoint down, bad secret).

Lists events since the newest one we stored (with a small overlap, since Stripe's
clock and ours may disagree) and feeds unseen ones through the same exactly-once
path as the webhook; then sends any receipt still owed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.donations.events import HANDLED_TYPES, MalformedEvent, parse
from newsletter.donations.gateway import Gateway
from newsletter.donations.models import StripeEventRecord
from newsletter.donations.receipts import send_pending
from newsletter.donations.webhook import Result, WebhookProcessor

OVERLAP = 300  # seconds re-read before the newest stored event
FIRST_LOOK_BACK = 30 * 24 * 3600  # Stripe keeps events for 30 days


@dataclass
class Reconciliation:
    since: int
    listed: int = 0
    #: every event Stripe listed: (id, type, what we did)
    lines: list[tuple[str, str, str]] = field(default_factory=list)
    applied: list[Result] = field(default_factory=list)
    already: int = 0
    skipped: int = 0
    receipts_sent: int = 0


def last_seen(sessions: sessionmaker[Session]) -> int | None:
    with sessions() as session:
        newest: int | None = session.scalar(select(func.max(StripeEventRecord.created)))
    return newest


def reconcile(
    sessions: sessionmaker[Session],
    gateway: Gateway,
    processor: WebhookProcessor,
    *,
    now: float | None = None,
) -> Reconciliation:
    newest = last_seen(sessions)
    clock = int(time.time() if now is None else now)
    since = max(0, newest - OVERLAP) if newest is not None else clock - FIRST_LOOK_BACK
    outcome = Reconciliation(since=since)
    for data in gateway.list_events(created_gte=since, types=list(HANDLED_TYPES)):
        outcome.listed += 1
        try:
            event = parse(data)
        except MalformedEvent:
            outcome.skipped += 1
            continue
        if event.livemode != processor.livemode:
            outcome.skipped += 1
            status = "skipped: other mode"
        elif processor.seen(event.event_id):
            outcome.already += 1
            status = "already recorded"
        else:
            result = processor.process(event)
            if result.duplicate:
                outcome.already += 1
                status = "already recorded"
            else:
                outcome.applied.append(result)
                status = f"applied: {result.outcome}"
        outcome.lines.append((event.event_id, event.type, status))
    if processor.receipts is not None:
        outcome.receipts_sent = send_pending(sessions, processor.receipts)
    return outcome
