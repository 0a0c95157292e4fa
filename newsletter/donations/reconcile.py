"""Catching up with Stripe: apply any event the webhook missed (endpoint down, bad secret).

Lists every event of a fixed window (by default the last week: Stripe retries a
failed delivery for three days, so an event missing after that will never come)
and feeds each through the same exactly-once path as the webhook, which skips
the ones already stored. A window anchored on the newest stored event would
miss everything lost before one successful delivery. Then sends any receipt
still owed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.donations import adjustments
from newsletter.donations.events import HANDLED_TYPES, MalformedEvent, parse
from newsletter.donations.gateway import Gateway, PaymentProviderError
from newsletter.donations.receipts.delivery import send_pending
from newsletter.donations.webhook import Result, WebhookProcessor
from newsletter.errors import NewsletterError

DAY = 24 * 3600
RETENTION = 30 * DAY  # Stripe keeps events for 30 days
DEFAULT_WINDOW = 7 * DAY  # Stripe's three days of retries, and days of slack for cron
_DURATION = re.compile(r"(\d+)\s*([hdw])")
_UNITS = {"h": 3600, "d": DAY, "w": 7 * DAY}


class BadSince(NewsletterError, ValueError):
    """A ``--since`` that is neither a duration (``36h``, ``3d``, ``2w``) nor a date."""


def parse_since(text: str, now: float) -> int:
    """The Unix time ``text`` names: a duration back from ``now``, or a UTC date/time."""
    cleaned = text.strip()
    found = _DURATION.fullmatch(cleaned.lower())
    if found:
        return int(now) - int(found.group(1)) * _UNITS[found.group(2)]
    if cleaned.endswith(("Z", "z")):  # UTC as ISO 8601 writes it
        cleaned = cleaned[:-1] + "+00:00"
    try:
        moment = (
            datetime.fromisoformat(cleaned)
            if "t" in cleaned.lower() or " " in cleaned
            else datetime.combine(date.fromisoformat(cleaned), datetime.min.time())
        )
    except ValueError:
        raise BadSince(
            f"--since {text!r}: give a duration such as 36h, 3d or 2w, or a date (2026-11-01)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@dataclass
class Reconciliation:
    since: int
    listed: int = 0
    #: every event Stripe listed: (id, type, what we did)
    lines: list[tuple[str, str, str]] = field(default_factory=list)
    applied: list[Result] = field(default_factory=list)
    already: int = 0
    skipped: int = 0
    failed: int = 0  # not applied because Stripe could not answer; the next run retries
    relinked: int = 0  # earlier refunds of instalments applied once Stripe named the invoice
    receipts_sent: int = 0


def reconcile(
    sessions: sessionmaker[Session],
    gateway: Gateway,
    processor: WebhookProcessor,
    *,
    since: int | None = None,
    now: float | None = None,
) -> Reconciliation:
    """Apply every event Stripe lists from ``since`` (default: ``DEFAULT_WINDOW`` ago,
    never before Stripe's retention) that we have not stored yet."""
    clock = int(time.time() if now is None else now)
    start = clock - DEFAULT_WINDOW if since is None else since
    since = max(start, clock - RETENTION)
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
            try:
                result = processor.process(event)
            except PaymentProviderError as exc:
                # Stripe could not answer a question this event needs (which invoice a
                # refunded payment paid): nothing of it was stored, so the next run
                # tries it again; the other events must not wait for it.
                outcome.failed += 1
                outcome.lines.append((event.event_id, event.type, f"failed, try again: {exc}"))
                continue
            if result.duplicate:
                outcome.already += 1
                status = "already recorded"
            else:
                outcome.applied.append(result)
                status = f"applied: {result.outcome}"
        outcome.lines.append((event.event_id, event.type, status))
    outcome.relinked, failed = _attach_invoices(sessions, processor)
    outcome.failed += failed
    if processor.receipts is not None:
        outcome.receipts_sent = send_pending(sessions, processor.receipts)
    return outcome


def _attach_invoices(
    sessions: sessionmaker[Session], processor: WebhookProcessor
) -> tuple[int, int]:
    """Apply refunds and disputes of monthly instalments that are still waiting because
    nothing named the invoice their payment paid: (gifts adjusted, questions failed)."""
    if processor.invoice_paid_by is None:
        return 0, 0
    with sessions() as session:
        waiting = adjustments.waiting_without_invoice(session)
    adjusted = failed = 0
    for adjustment_id, payment_intent in waiting:
        try:
            invoice = processor.invoice_paid_by(payment_intent)
        except PaymentProviderError:
            failed += 1
            continue
        with transaction(sessions) as session:
            adjusted += adjustments.attach_invoice(session, adjustment_id, invoice)
    return adjusted, failed
