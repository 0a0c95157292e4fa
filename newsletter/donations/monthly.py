"""A monthly gift's status as Stripe reports it (active, past due, cancelled).

Statuses move forward in Stripe's event time, not in arrival order, and a
cancelled subscription is never revived. A subscription we have not heard of is
recorded only if its metadata names an intent of ours.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.donations.events import DonationEvent
from newsletter.donations.gifts import Effect, insert_recurring, when
from newsletter.donations.intents import intent_row
from newsletter.donations.models import RecurringGift


def _find_recurring(session: Session, subscription_id: str) -> RecurringGift | None:
    found: RecurringGift | None = session.scalar(
        select(RecurringGift)
        .where(RecurringGift.subscription_id == subscription_id)
        .with_for_update()
    )
    return found


def subscription_status(session: Session, event: DonationEvent, status: str) -> Effect:
    if not event.subscription_id:
        return Effect("no subscription")
    recurring = _find_recurring(session, event.subscription_id)
    if recurring is None:
        intent = intent_row(session, event)
        if intent is None:  # metadata that names no intent of ours: another integration's
            return Effect("not a subscription from our donate form")
        row = insert_recurring(session, event, intent)
        recurring = session.get_one(RecurringGift, row.id)
    if event.created < recurring.status_at:
        return Effect("older than the status we have")
    if recurring.status == "canceled" and status != "canceled":
        return Effect("already cancelled")  # Stripe never revives a cancelled subscription
    recurring.status = status
    recurring.status_at = event.created
    if status == "canceled" and recurring.canceled_at is None:
        recurring.canceled_at = when(event)
    return Effect(f"monthly gift {status}")
