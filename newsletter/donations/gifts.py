"""Recording money received: one-time gifts, monthly gifts and their instalments.

These are the events Stripe sends most (``checkout.session.completed`` and
``invoice.paid``), so each is a handful of Core statements rather than ORM loads:
updates say ``RETURNING`` instead of being preceded by a locking SELECT, a gift is
inserted with ``ON CONFLICT (source_id) DO NOTHING`` (a repeat or a concurrent twin
simply inserts nothing), and the donor's subscriber is found in one query. Runs
inside the caller's transaction; the same rows result in any delivery order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.donations.amounts import format_amount
from newsletter.donations.events import DonationEvent
from newsletter.donations.models import (
    ChargeAdjustment,
    DonationIntent,
    Frequency,
    Gift,
    GiftStatus,
    IntentStatus,
    RecurringGift,
)
from newsletter.donations.receipts import Receipt
from subscribers.models import Subscriber
from subscribers.orm import utcnow

# Core tables: statements on them skip the ORM's unit of work and bulk-update bookkeeping.
GIFTS: Table = Gift.__table__  # type: ignore[assignment]
RECURRING: Table = RecurringGift.__table__  # type: ignore[assignment]
INTENTS: Table = DonationIntent.__table__  # type: ignore[assignment]
ADJUSTMENTS: Table = ChargeAdjustment.__table__  # type: ignore[assignment]
SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]


@dataclass
class Effect:
    """What applying one event did: a short outcome, the gifts it created, and the
    receipts it claimed for them (to send once the transaction has committed)."""

    outcome: str
    new_gifts: list[int] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


@dataclass(frozen=True)
class IntentRow:
    id: int
    campaign_id: int | None
    subscriber_id: int | None


@dataclass(frozen=True)
class RecurringRow:
    id: int
    intent_id: int | None
    campaign_id: int | None
    subscriber_id: int | None
    checkout_session_id: str | None
    donor_email: str
    donor_name: str


_RECURRING_COLUMNS = (
    RECURRING.c.id,
    RECURRING.c.intent_id,
    RECURRING.c.campaign_id,
    RECURRING.c.subscriber_id,
    RECURRING.c.checkout_session_id,
    RECURRING.c.donor_email,
    RECURRING.c.donor_name,
)


def upsert_dialect(session: Session) -> Any:
    """The ``insert`` that knows ``ON CONFLICT`` for this database (both have it)."""
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def when(event: DonationEvent) -> datetime:
    return datetime.fromtimestamp(event.created, UTC) if event.created else datetime.now(UTC)


def match_subscriber(session: Session, email: str, subscriber_id: int | None = None) -> int | None:
    """``subscriber_id`` if that subscriber still exists, else whoever has ``email``
    (compared the way ``email_key`` is stored); one query either way."""
    key = email.strip().lower()
    if subscriber_id is None:
        if not key:
            return None
        return session.scalar(select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.email_key == key))
    return session.scalar(
        select(SUBSCRIBERS.c.id)
        .where(or_(SUBSCRIBERS.c.id == subscriber_id, SUBSCRIBERS.c.email_key == key))
        .order_by(case((SUBSCRIBERS.c.id == subscriber_id, 0), else_=1))
        .limit(1)
    )


def intent_row(
    session: Session, event: DonationEvent, status: IntentStatus | None = None
) -> IntentRow | None:
    """Our donation intent named by ``event`` (locked), moved to ``status`` if given."""
    if not event.intent:
        return None
    if status is None:
        query: Any = select(INTENTS.c.id, INTENTS.c.campaign_id, INTENTS.c.subscriber_id).where(
            INTENTS.c.public_id == event.intent
        )
        row = session.execute(query.with_for_update()).first()
    else:
        row = session.execute(
            update(INTENTS)
            .where(INTENTS.c.public_id == event.intent)
            .values(
                status=status,
                checkout_session_id=func.coalesce(INTENTS.c.checkout_session_id, event.object_id),
            )
            .returning(INTENTS.c.id, INTENTS.c.campaign_id, INTENTS.c.subscriber_id)
        ).first()
    return IntentRow(row[0], row[1], row[2]) if row is not None else None


def attribution(
    session: Session, event: DonationEvent, intent: IntentRow | None
) -> tuple[int | None, int | None]:
    """Campaign and subscriber: our own intent row first, then Stripe metadata, then address."""
    campaign = intent.campaign_id if intent else event.campaign_id
    subscriber = intent.subscriber_id if intent else event.subscriber_id
    return campaign, match_subscriber(session, event.email, subscriber)


def insert_recurring(
    session: Session,
    event: DonationEvent,
    intent: IntentRow | None,
    who: tuple[int | None, int | None] | None = None,
    checkout_session_id: str | None = None,
) -> RecurringRow:
    """A monthly gift first heard of in ``event`` (which may precede the checkout);
    ``who`` is its (campaign, subscriber) when the caller already knows them.

    A concurrent twin inserting the same subscription raises ``IntegrityError``;
    the caller's transaction is then retried and finds the row.
    """
    campaign, subscriber = who if who is not None else attribution(session, event, intent)
    intent_id = intent.id if intent else None
    values = {
        "subscription_id": event.subscription_id,
        "customer_id": event.customer_id,
        "intent_id": intent_id,
        "campaign_id": campaign,
        "subscriber_id": subscriber,
        "checkout_session_id": checkout_session_id,
        "donor_email": event.email,
        "donor_name": event.name,
        "amount_minor": event.amount_minor,
        "currency": event.currency,
        "status": "active",
        "status_at": 0,
        "created_at": utcnow(),
    }
    new_id = session.execute(insert(RECURRING).values(values).returning(RECURRING.c.id)).scalar()
    assert new_id is not None
    return RecurringRow(
        new_id,
        intent_id,
        campaign,
        subscriber,
        checkout_session_id,
        event.email,
        event.name,
    )


def _recurring_update(session: Session, subscription_id: str, values: dict[str, Any]) -> Any:
    """Update (and lock) one monthly gift, returning its row, or None when unknown."""
    return session.execute(
        update(RECURRING)
        .where(RECURRING.c.subscription_id == subscription_id)
        .values(values)
        .returning(*_RECURRING_COLUMNS)
    ).first()


def add_gift(session: Session, values: dict[str, Any], claim_receipt: bool) -> Effect:
    """Insert the gift unless its ``source_id`` is recorded; fold early refunds into it."""
    if claim_receipt and values["donor_email"]:
        values["receipt_sent_at"] = datetime.now(UTC)  # claimed with the gift: nobody else sends
    values.setdefault("created_at", utcnow())
    statement = (
        upsert_dialect(session)
        .insert(GIFTS)
        .values(status=GiftStatus.PAID, refunded_minor=0, disputed_minor=0, **values)
        .on_conflict_do_nothing(index_elements=["source_id"])
        .returning(GIFTS.c.id)
    )
    gift_id = session.execute(statement).scalar()
    if gift_id is None:
        return Effect("gift already recorded")
    _fold_adjustments(session, gift_id, values)
    owed = []
    if values.get("receipt_sent_at") is not None:
        owed.append(
            Receipt(
                gift_id=gift_id,
                to_address=values["donor_email"],
                to_name=values["donor_name"],
                amount=format_amount(values["amount_minor"], values["currency"]),
                frequency=values["frequency"],
                paid_on=values["paid_at"].date(),
                reference=values["source_id"],
                campaign_id=values["campaign_id"],
            )
        )
    return Effect("gift recorded", [gift_id], owed)


def _fold_adjustments(session: Session, gift_id: int, values: dict[str, Any]) -> None:
    """Apply any refund or dispute Stripe reported before the payment itself arrived."""
    matches = ADJUSTMENTS.c.invoice_id == values["source_id"]
    if values.get("payment_intent_id"):
        matches = or_(matches, ADJUSTMENTS.c.payment_intent_id == values["payment_intent_id"])
    found = session.execute(
        update(ADJUSTMENTS)
        .where(matches)
        .values(gift_id=gift_id)
        .returning(ADJUSTMENTS.c.refunded_minor, ADJUSTMENTS.c.disputed_minor)
    ).all()
    if not found:
        return
    refunded = max(r[0] for r in found)
    disputed = max(r[1] for r in found)
    status = GiftStatus.PAID
    if disputed:
        status = GiftStatus.DISPUTED
    elif refunded >= values["amount_minor"]:
        status = GiftStatus.REFUNDED
    elif refunded:
        status = GiftStatus.PARTIALLY_REFUNDED
    session.execute(
        update(GIFTS)
        .where(GIFTS.c.id == gift_id)
        .values(refunded_minor=refunded, disputed_minor=disputed, status=status)
    )


def checkout_paid(session: Session, event: DonationEvent, claim: bool) -> Effect:
    """A paid Checkout Session: a one-time gift, or the start of a monthly gift."""
    intent = intent_row(session, event, IntentStatus.COMPLETED)
    campaign, subscriber = attribution(session, event, intent)
    if event.mode == "subscription":
        return _monthly_started(session, event, intent, campaign, subscriber)
    return add_gift(
        session,
        {
            "source_id": event.object_id,
            "frequency": Frequency.ONCE,
            "intent_id": intent.id if intent else None,
            "campaign_id": campaign,
            "subscriber_id": subscriber,
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "donor_email": event.email,
            "donor_name": event.name,
            "checkout_session_id": event.object_id,
            "subscription_id": None,
            "customer_id": event.customer_id,
            "payment_intent_id": event.payment_intent_id or None,
            "livemode": event.livemode,
            "paid_at": when(event),
        },
        claim,
    )


def _monthly_started(
    session: Session,
    event: DonationEvent,
    intent: IntentRow | None,
    campaign: int | None,
    subscriber: int | None,
) -> Effect:
    values: dict[str, Any] = {
        "checkout_session_id": event.object_id,
        "amount_minor": func.coalesce(func.nullif(RECURRING.c.amount_minor, 0), event.amount_minor),
        "currency": func.coalesce(func.nullif(RECURRING.c.currency, ""), event.currency),
    }
    if intent is not None:
        values["intent_id"] = func.coalesce(RECURRING.c.intent_id, intent.id)
    if campaign is not None:
        values["campaign_id"] = campaign
    if subscriber is not None:
        values["subscriber_id"] = subscriber
    if event.email:
        values["donor_email"] = event.email
    if event.name:
        values["donor_name"] = event.name
    row = _recurring_update(session, event.subscription_id, values)
    if row is None:
        insert_recurring(session, event, intent, (campaign, subscriber), event.object_id)
        return Effect("monthly gift started")  # no instalment can predate its row
    session.execute(  # instalments Stripe announced before the checkout completed
        update(GIFTS)
        .where(GIFTS.c.subscription_id == event.subscription_id)
        .values(
            intent_id=func.coalesce(GIFTS.c.intent_id, row.intent_id),
            checkout_session_id=func.coalesce(GIFTS.c.checkout_session_id, event.object_id),
            campaign_id=func.coalesce(GIFTS.c.campaign_id, campaign),
            subscriber_id=func.coalesce(GIFTS.c.subscriber_id, subscriber),
        )
    )
    return Effect("monthly gift started")


def invoice_paid(session: Session, event: DonationEvent, claim: bool) -> Effect:
    """One paid monthly instalment, counted once by its invoice id."""
    if event.amount_minor <= 0:
        return Effect("nothing paid")
    if not event.subscription_id:
        return Effect("not a monthly gift")
    values: dict[str, Any] = {
        "customer_id": func.coalesce(func.nullif(RECURRING.c.customer_id, ""), event.customer_id),
        "donor_email": func.coalesce(func.nullif(RECURRING.c.donor_email, ""), event.email),
    }
    found = _recurring_update(session, event.subscription_id, values)
    matched = False  # whether the donor's address was already looked up
    if found is None:
        if not event.intent:
            return Effect("not a subscription from our donate form")  # e.g. a membership
        recurring = insert_recurring(session, event, intent_row(session, event))
        matched = True
    else:
        recurring = RecurringRow(*found)
    subscriber = recurring.subscriber_id
    if subscriber is None and not matched:
        subscriber = match_subscriber(session, event.email)
    return add_gift(
        session,
        {
            "source_id": event.invoice_id,
            "frequency": Frequency.MONTHLY,
            "intent_id": recurring.intent_id,
            "campaign_id": recurring.campaign_id,
            "subscriber_id": subscriber,
            "amount_minor": event.amount_minor,
            "currency": event.currency,
            "donor_email": event.email or recurring.donor_email,
            "donor_name": event.name or recurring.donor_name,
            "checkout_session_id": recurring.checkout_session_id,
            "subscription_id": event.subscription_id,
            "customer_id": event.customer_id,
            "payment_intent_id": event.payment_intent_id or None,
            "livemode": event.livemode,
            "paid_at": when(event),
        },
        claim,
    )
