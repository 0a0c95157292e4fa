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
from hashlib import blake2b
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.donations import donors
from newsletter.donations.events import DonationEvent
from newsletter.donations.intents import IntentRow, extras_columns, extras_from, intent_row
from newsletter.donations.models import ChargeAdjustment, Gift, RecurringGift
from newsletter.donations.receipts.content import Receipt, compose
from newsletter.donations.returning import returned
from newsletter.donations.standing import status_after
from newsletter.donations.states import Frequency, GiftStatus, IntentStatus
from subscribers.models import Subscriber
from subscribers.orm import utcnow

# Core tables, executed on the session's connection: these statements skip the ORM's
# unit of work, its bulk-update bookkeeping and its per-statement dispatch.
GIFTS: Table = Gift.__table__  # type: ignore[assignment]
RECURRING: Table = RecurringGift.__table__  # type: ignore[assignment]
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


_TEXT = String()


def _p(name: str, type_: Any = None) -> Any:
    return bindparam(name, type_=type_)


# Statements built once: values arrive as parameters, so each execution skips
# building and coercing the expression (which cost more than running it on SQLite).
_SUBSCRIBER_BY_KEY = select(donors.by_address(_p("p_key")))
_SUBSCRIBER_BY_ID_OR_KEY = select(donors.named_or_by_address(_p("p_id"), _p("p_key")))
_RECURRING_INSERT = insert(RECURRING).returning(RECURRING.c.id)
_RECURRING_STARTED = (
    update(RECURRING)
    .where(RECURRING.c.subscription_id == _p("p_sub"))
    .values(
        checkout_session_id=_p("p_cs", String()),
        amount_minor=func.coalesce(func.nullif(RECURRING.c.amount_minor, 0), _p("p_amount")),
        currency=func.coalesce(func.nullif(RECURRING.c.currency, ""), _p("p_currency")),
        intent_id=func.coalesce(RECURRING.c.intent_id, _p("p_intent", Integer())),
        campaign_id=func.coalesce(_p("p_campaign", Integer()), RECURRING.c.campaign_id),
        subscriber_id=func.coalesce(_p("p_subscriber", Integer()), RECURRING.c.subscriber_id),
        donor_email=func.coalesce(
            func.nullif(_p("p_email", String()), ""), RECURRING.c.donor_email
        ),
        donor_name=func.coalesce(func.nullif(_p("p_name", String()), ""), RECURRING.c.donor_name),
    )
    .returning(*_RECURRING_COLUMNS)
)
_RECURRING_INSTALMENT = (
    update(RECURRING)
    .where(RECURRING.c.subscription_id == _p("p_sub"))
    .values(
        customer_id=func.coalesce(func.nullif(RECURRING.c.customer_id, ""), _p("p_customer")),
        donor_email=func.coalesce(func.nullif(RECURRING.c.donor_email, ""), _p("p_email")),
    )
    .returning(
        *_RECURRING_COLUMNS,
        # the donor, for an instalment whose monthly gift knows no subscriber
        func.coalesce(
            RECURRING.c.subscriber_id, donors.by_address(_p("p_key", String()), RECURRING)
        ),
    )
)
_EARLY_INSTALMENTS = (
    update(GIFTS)
    .where(GIFTS.c.subscription_id == _p("p_sub"))
    .values(
        intent_id=func.coalesce(GIFTS.c.intent_id, _p("p_intent", Integer())),
        checkout_session_id=func.coalesce(GIFTS.c.checkout_session_id, _p("p_cs", String())),
        campaign_id=func.coalesce(GIFTS.c.campaign_id, _p("p_campaign", Integer())),
        subscriber_id=func.coalesce(GIFTS.c.subscriber_id, _p("p_subscriber", Integer())),
    )
)
# Refunds or disputes Stripe reported before this payment (rare): claimed only if any.
_EARLY = ADJUSTMENTS.alias("early")
_EARLY_ADJUSTMENTS = returned(
    select(func.count()).where(
        or_(
            _EARLY.c.invoice_id == _p("p_source", String()),
            _EARLY.c.payment_intent_id == _p("p_pi", String()),
        )
    ),
    None,
)
# The new gift's id, whether refunds or disputes came before it (rare: folded in only
# then) and the extras its receipt states, all from the INSERT: one round trip a gift.
# (Its own values come again as parameters: an INSERT's RETURNING cannot correlate.)
_GIFT_INSERT = {
    name: dialect.insert(GIFTS)
    .on_conflict_do_nothing(index_elements=["source_id"])
    .returning(GIFTS.c.id, _EARLY_ADJUSTMENTS, *extras_columns(_p("p_intent", Integer()), None))
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_ADJUSTMENTS_CLAIM = (
    update(ADJUSTMENTS)
    .where(
        or_(
            ADJUSTMENTS.c.invoice_id == _p("p_source", String()),
            ADJUSTMENTS.c.payment_intent_id == _p("p_pi", String()),
        )
    )
    .values(gift_id=_p("p_gift"))
    .returning(ADJUSTMENTS.c.refunded_minor, ADJUSTMENTS.c.disputed_minor)
)
_GIFT_ADJUST = update(GIFTS).where(GIFTS.c.id == _p("p_gift"))
_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(_p("p_key", BigInteger())))


def lock_key(stripe_id: str) -> int:
    """A stable signed 64-bit number for ``stripe_id`` (PostgreSQL advisory lock keys)."""
    return int.from_bytes(blake2b(stripe_id.encode(), digest_size=8).digest(), "big", signed=True)


def lock_keys(*stripe_ids: str | None) -> list[int]:
    """The advisory lock keys of a payment, in the one order every path takes them."""
    return sorted({lock_key(i) for i in stripe_ids if i})


def payment_keys(event: DonationEvent) -> list[int]:
    """The locks an event recording or adjusting a payment must hold (``lock_payment``):
    its payment intent and its invoice (the source of a monthly instalment's gift)."""
    return lock_keys(event.payment_intent_id, event.invoice_id)


def lock_payment(session: Session, *stripe_ids: str | None) -> None:
    """Serialise, until commit, every transaction that records this payment or adjusts it.

    Under PostgreSQL's READ COMMITTED a refund and its payment applied at the same
    moment each miss the other's uncommitted row (the refund finds no gift, the gift
    finds no refund), leaving the refund unapplied. Both paths take these locks
    before reading, in one order, so the second waits and then sees the first. The
    webhook takes an event's locks (``payment_keys``) in the statement recording
    the event, before anything is read; ``dispatch`` relies on that.
    SQLite needs nothing: it has one writer at a time.
    """
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return
    for key in lock_keys(*stripe_ids):
        conn.execute(_ADVISORY_LOCK, {"p_key": key})


def when(event: DonationEvent) -> datetime:
    return datetime.fromtimestamp(event.created, UTC) if event.created else datetime.now(UTC)


def match_subscriber(session: Session, email: str, subscriber_id: int | None = None) -> int | None:
    """``subscriber_id`` if that subscriber still exists, else whoever has ``email``
    (compared the way ``email_key`` is stored); one query either way."""
    key = donors.email_key(email)
    if subscriber_id is None:
        if key is None:
            return None
        found = session.connection().scalar(_SUBSCRIBER_BY_KEY, {"p_key": key})
    else:
        params = {"p_id": subscriber_id, "p_key": key}
        found = session.connection().scalar(_SUBSCRIBER_BY_ID_OR_KEY, params)
    return int(found) if found is not None else None


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
    new_id = session.connection().execute(_RECURRING_INSERT, values).scalar_one()
    return RecurringRow(
        new_id, intent_id, campaign, subscriber, checkout_session_id, event.email, event.name
    )


def add_gift(session: Session, values: dict[str, Any], claim_receipt: bool) -> Effect:
    """Insert the gift unless its ``source_id`` is recorded; fold early refunds into it.

    The caller holds the payment's locks (``payment_keys``), so a refund applied at
    the same moment is either seen here or sees this gift.
    """
    claimed = claim_receipt and bool(values["donor_email"])
    # claimed with the gift: nobody else sends it
    claimed_at = datetime.now(UTC) if claimed else None
    values["receipt_claimed_at"] = claimed_at
    values.update(status=GiftStatus.PAID, refunded_minor=0, disputed_minor=0, created_at=utcnow())
    params = {
        **values,
        "p_intent": values["intent_id"],
        "p_source": values["source_id"],
        "p_pi": values["payment_intent_id"],
    }
    conn = session.connection()
    inserted = conn.execute(_GIFT_INSERT[conn.dialect.name], params).first()
    if inserted is None:
        return Effect("gift already recorded")
    gift_id, early = inserted[0], inserted[1]
    if early:
        _fold_adjustments(session, gift_id, values)
    owed = []
    if claimed:
        owed.append(
            compose(
                extras_from(inserted[2:]),
                gift_id=gift_id,
                to_address=values["donor_email"],
                to_name=values["donor_name"],
                amount_minor=values["amount_minor"],
                currency=values["currency"],
                frequency=values["frequency"],
                paid_on=values["paid_at"].date(),
                reference=values["source_id"],
                campaign_id=values["campaign_id"],
                claimed_at=claimed_at,
            )
        )
    return Effect("gift recorded", [gift_id], owed)


def _fold_adjustments(session: Session, gift_id: int, values: dict[str, Any]) -> None:
    """Apply any refund or dispute Stripe reported before the payment itself arrived."""
    params = {
        "p_source": values["source_id"],
        "p_pi": values.get("payment_intent_id"),
        "p_gift": gift_id,
    }
    found = session.connection().execute(_ADJUSTMENTS_CLAIM, params).all()
    if not found:
        return
    refunded = max(r[0] for r in found)
    disputed = max(r[1] for r in found)
    status = status_after(values["amount_minor"], refunded, disputed)
    session.connection().execute(
        _GIFT_ADJUST,
        {
            "p_gift": gift_id,
            "refunded_minor": refunded,
            "disputed_minor": disputed,
            "status": status,
        },
    )


def checkout_paid(session: Session, event: DonationEvent, claim: bool) -> Effect:
    """A paid Checkout Session: a one-time gift, or the start of a monthly gift.

    A session that names no intent of ours (another integration on the same Stripe
    account: a shop sale, a membership) is no donation; its subscription then stays
    unknown, so its invoices are ignored too, in either order.
    """
    if not event.donation_intent:
        return Effect("ignored: not a checkout from our donate form")
    intent = intent_row(session, event, IntentStatus.COMPLETED, donor=True)
    if intent is None:  # a shop's order number in client_reference_id, say
        return Effect("ignored: names no donation form of ours")
    campaign, subscriber = intent.campaign_id, intent.donor_id
    if event.mode == "subscription":
        return _monthly_started(session, event, intent, campaign, subscriber)
    return add_gift(
        session,
        {
            "source_id": event.object_id,
            "frequency": Frequency.ONCE,
            "intent_id": intent.id,
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
    params = {
        "p_sub": event.subscription_id,
        "p_cs": event.object_id,
        "p_amount": event.amount_minor,
        "p_currency": event.currency,
        "p_intent": intent.id if intent else None,
        "p_campaign": campaign,
        "p_subscriber": subscriber,
        "p_email": event.email,
        "p_name": event.name,
    }
    conn = session.connection()
    row = conn.execute(_RECURRING_STARTED, params).first()
    if row is None:
        insert_recurring(session, event, intent, (campaign, subscriber), event.object_id)
        return Effect("monthly gift started")  # no instalment can predate its row
    # instalments Stripe announced before the checkout completed
    params["p_intent"] = row.intent_id
    conn.execute(_EARLY_INSTALMENTS, params)
    return Effect("monthly gift started")


def invoice_paid(session: Session, event: DonationEvent, claim: bool) -> Effect:
    """One paid monthly instalment, counted once by its invoice id."""
    if event.amount_minor <= 0:
        return Effect("nothing paid")
    if not event.subscription_id:
        return Effect("not a monthly gift")
    params = {
        "p_sub": event.subscription_id,
        "p_customer": event.customer_id,
        "p_email": event.email,
        "p_key": donors.email_key(event.email),
    }
    found = session.connection().execute(_RECURRING_INSTALMENT, params).first()
    if found is None:
        intent = intent_row(session, event, donor=True)
        if intent is None:  # a membership, or another integration's own "intent" field
            return Effect("not a subscription from our donate form")
        who = (intent.campaign_id, intent.donor_id)
        recurring = insert_recurring(session, event, intent, who)
        subscriber = recurring.subscriber_id
    else:
        recurring = RecurringRow(*found[: len(_RECURRING_COLUMNS)])
        subscriber = found[len(_RECURRING_COLUMNS)]
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
