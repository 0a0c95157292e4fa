"""Applying a ``DonationEvent`` to the donations tables, inside the caller's transaction.

Every effect is written so that applying it twice, or after a later event, leaves
the same rows: gifts are keyed by the Stripe object that proves the payment,
refunds and disputes store Stripe's running totals (never increments), and a
subscription's status only moves forward in Stripe's event time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.donations.events import DonationEvent, Kind
from newsletter.donations.models import (
    ChargeAdjustment,
    DonationIntent,
    Frequency,
    Gift,
    GiftStatus,
    IntentStatus,
    RecurringGift,
)
from newsletter.donations.receipts import Receipt, receipt_for
from subscribers.models import Subscriber


@dataclass
class Effect:
    """What applying one event did: a short outcome, the gifts it created, and the
    receipts it claimed for them (to send once the transaction has committed)."""

    outcome: str
    new_gifts: list[int] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


def match_subscriber(session: Session, email: str) -> int | None:
    """The subscriber whose address is ``email``, compared the way ``email_key`` is stored."""
    key = email.strip().lower()
    if not key:
        return None
    return session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))


def _intent(session: Session, event: DonationEvent) -> DonationIntent | None:
    if not event.intent:
        return None
    return session.scalar(
        select(DonationIntent).where(DonationIntent.public_id == event.intent).with_for_update()
    )


def _set_intent_status(intent: DonationIntent | None, status: IntentStatus) -> None:
    if intent is not None and intent.status != IntentStatus.COMPLETED:
        intent.status = status


def _attribution(
    session: Session, event: DonationEvent, intent: DonationIntent | None
) -> tuple[int | None, int | None]:
    """Campaign and subscriber: our own intent row first, then Stripe metadata, then address."""
    campaign = intent.campaign_id if intent else event.campaign_id
    subscriber = intent.subscriber_id if intent else event.subscriber_id
    if subscriber is not None and session.get(Subscriber, subscriber) is None:
        subscriber = None  # erased since the link was sent
    if subscriber is None:
        subscriber = match_subscriber(session, event.email)
    return campaign, subscriber


def _apply_adjustments(session: Session, gift: Gift) -> None:
    """Fold any refund or dispute Stripe reported before the payment itself arrived."""
    keys = [k for k in (gift.payment_intent_id,) if k]
    query = select(ChargeAdjustment).where(ChargeAdjustment.invoice_id == gift.source_id)
    if keys:
        query = select(ChargeAdjustment).where(
            (ChargeAdjustment.payment_intent_id.in_(keys))
            | (ChargeAdjustment.invoice_id == gift.source_id)
        )
    for adjustment in session.scalars(query):
        adjustment.gift_id = gift.id
        _adjust(gift, adjustment)


def _adjust(gift: Gift, adjustment: ChargeAdjustment) -> None:
    gift.refunded_minor = max(gift.refunded_minor, adjustment.refunded_minor)
    gift.disputed_minor = max(gift.disputed_minor, adjustment.disputed_minor)
    if gift.disputed_minor:
        gift.status = GiftStatus.DISPUTED
    elif gift.refunded_minor >= gift.amount_minor:
        gift.status = GiftStatus.REFUNDED
    elif gift.refunded_minor:
        gift.status = GiftStatus.PARTIALLY_REFUNDED


def _add_gift(session: Session, gift: Gift, claim_receipt: bool) -> Effect:
    existing = session.scalar(select(Gift.id).where(Gift.source_id == gift.source_id))
    if existing is not None:
        return Effect("gift already recorded")
    if claim_receipt and gift.donor_email:
        gift.receipt_sent_at = datetime.now(UTC)  # claimed with the gift: nobody else sends it
    session.add(gift)
    session.flush()
    _apply_adjustments(session, gift)
    owed = [receipt_for(gift)] if gift.receipt_sent_at is not None else []
    return Effect("gift recorded", [gift.id], owed)


def _checkout_paid(session: Session, event: DonationEvent, claim: bool) -> Effect:
    intent = _intent(session, event)
    if intent is not None:
        intent.status = IntentStatus.COMPLETED
        intent.checkout_session_id = intent.checkout_session_id or event.object_id
    campaign, subscriber = _attribution(session, event, intent)
    if event.mode == "subscription":
        recurring = _find_recurring(session, event.subscription_id) or _new_recurring(
            session, event, intent
        )
        recurring.checkout_session_id = event.object_id
        recurring.intent_id = recurring.intent_id or (intent.id if intent else None)
        recurring.campaign_id = campaign if campaign is not None else recurring.campaign_id
        recurring.subscriber_id = subscriber or recurring.subscriber_id
        recurring.donor_email = event.email or recurring.donor_email
        recurring.donor_name = event.name or recurring.donor_name
        recurring.amount_minor = recurring.amount_minor or event.amount_minor
        recurring.currency = recurring.currency or event.currency
        for gift in session.scalars(
            select(Gift).where(Gift.subscription_id == recurring.subscription_id)
        ):  # instalments Stripe announced before the checkout completed
            gift.intent_id = gift.intent_id or recurring.intent_id
            gift.checkout_session_id = gift.checkout_session_id or event.object_id
            gift.campaign_id = gift.campaign_id if gift.campaign_id is not None else campaign
            gift.subscriber_id = gift.subscriber_id or subscriber
        return Effect("monthly gift started")
    return _add_gift(
        session,
        Gift(
            source_id=event.object_id,
            frequency=Frequency.ONCE,
            intent_id=intent.id if intent else None,
            campaign_id=campaign,
            subscriber_id=subscriber,
            amount_minor=event.amount_minor,
            currency=event.currency,
            donor_email=event.email,
            donor_name=event.name,
            checkout_session_id=event.object_id,
            customer_id=event.customer_id,
            payment_intent_id=event.payment_intent_id or None,
            livemode=event.livemode,
            paid_at=_when(event),
        ),
        claim,
    )


def _when(event: DonationEvent) -> datetime:
    return datetime.fromtimestamp(event.created, UTC) if event.created else datetime.now(UTC)


def _find_recurring(session: Session, subscription_id: str) -> RecurringGift | None:
    found: RecurringGift | None = session.scalar(
        select(RecurringGift)
        .where(RecurringGift.subscription_id == subscription_id)
        .with_for_update()
    )
    return found


def _new_recurring(
    session: Session, event: DonationEvent, intent: DonationIntent | None
) -> RecurringGift:
    """A monthly gift first heard of in ``event`` (which may precede the checkout)."""
    campaign, subscriber = _attribution(session, event, intent)
    recurring = RecurringGift(
        subscription_id=event.subscription_id,
        customer_id=event.customer_id,
        intent_id=intent.id if intent else None,
        campaign_id=campaign,
        subscriber_id=subscriber,
        donor_email=event.email,
        donor_name=event.name,
        amount_minor=event.amount_minor,
        currency=event.currency,
        status="active",
    )
    session.add(recurring)
    session.flush()
    return recurring


def _invoice_paid(session: Session, event: DonationEvent, claim: bool) -> Effect:
    if event.amount_minor <= 0:
        return Effect("nothing paid")
    if not event.subscription_id:
        return Effect("not a monthly gift")
    recurring = _find_recurring(session, event.subscription_id)
    matched = False  # whether the donor's address was already looked up
    if recurring is None:
        if not event.intent:
            return Effect("not a subscription from our donate form")  # e.g. a membership
        recurring = _new_recurring(session, event, _intent(session, event))
        matched = True
    recurring.customer_id = recurring.customer_id or event.customer_id
    recurring.donor_email = recurring.donor_email or event.email
    subscriber = recurring.subscriber_id
    if subscriber is None and not matched:
        subscriber = match_subscriber(session, event.email)
    return _add_gift(
        session,
        Gift(
            source_id=event.invoice_id,
            frequency=Frequency.MONTHLY,
            intent_id=recurring.intent_id,
            campaign_id=recurring.campaign_id,
            subscriber_id=subscriber,
            amount_minor=event.amount_minor,
            currency=event.currency,
            donor_email=event.email or recurring.donor_email,
            donor_name=event.name or recurring.donor_name,
            checkout_session_id=recurring.checkout_session_id,
            subscription_id=event.subscription_id,
            customer_id=event.customer_id,
            payment_intent_id=event.payment_intent_id or None,
            livemode=event.livemode,
            paid_at=_when(event),
        ),
        claim,
    )


def _subscription_status(session: Session, event: DonationEvent, status: str) -> Effect:
    if not event.subscription_id:
        return Effect("no subscription")
    recurring = _find_recurring(session, event.subscription_id)
    if recurring is None:
        if not event.intent:
            return Effect("not a subscription from our donate form")
        recurring = _new_recurring(session, event, _intent(session, event))
    if event.created < recurring.status_at:
        return Effect("older than the status we have")
    if recurring.status == "canceled" and status != "canceled":
        return Effect("already cancelled")  # Stripe never revives a cancelled subscription
    recurring.status = status
    recurring.status_at = event.created
    if status == "canceled" and recurring.canceled_at is None:
        recurring.canceled_at = _when(event)
    return Effect(f"monthly gift {status}")


def _charge_adjusted(session: Session, event: DonationEvent) -> Effect:
    if not event.charge_id:
        return Effect("no charge")
    adjustment = session.scalar(
        select(ChargeAdjustment)
        .where(ChargeAdjustment.charge_id == event.charge_id)
        .with_for_update()
    )
    if adjustment is None:
        adjustment = ChargeAdjustment(charge_id=event.charge_id, refunded_minor=0, disputed_minor=0)
        session.add(adjustment)
    adjustment.payment_intent_id = adjustment.payment_intent_id or event.payment_intent_id or None
    adjustment.invoice_id = adjustment.invoice_id or event.invoice_id or None
    adjustment.refunded_minor = max(adjustment.refunded_minor, event.refunded_minor)
    adjustment.disputed_minor = max(adjustment.disputed_minor, event.disputed_minor)
    session.flush()
    gift = None
    if adjustment.payment_intent_id:
        gift = session.scalar(
            select(Gift)
            .where(Gift.payment_intent_id == adjustment.payment_intent_id)
            .with_for_update()
        )
    if gift is None and adjustment.invoice_id:
        gift = session.scalar(
            select(Gift).where(Gift.source_id == adjustment.invoice_id).with_for_update()
        )
    if gift is None:
        return Effect("kept until the payment is known")
    adjustment.gift_id = gift.id
    _adjust(gift, adjustment)
    return Effect("refund recorded" if event.kind is Kind.CHARGE_REFUNDED else "dispute recorded")


def apply(session: Session, event: DonationEvent, *, claim_receipts: bool = False) -> Effect:
    """Apply ``event`` to the database in ``session`` (the caller commits).

    With ``claim_receipts`` a new gift is stored with its receipt claimed, and the
    caller must send ``Effect.receipts`` after commit (or release them on failure).
    """
    kind = event.kind
    if kind in (Kind.CHECKOUT_COMPLETED, Kind.CHECKOUT_ASYNC_SUCCEEDED):
        if event.payment_status != "paid":
            _set_intent_status(_intent(session, event), IntentStatus.AWAITING_PAYMENT)
            return Effect("waiting for the payment")
        return _checkout_paid(session, event, claim_receipts)
    if kind is Kind.CHECKOUT_ASYNC_FAILED:
        _set_intent_status(_intent(session, event), IntentStatus.FAILED)
        return Effect("payment failed")
    if kind is Kind.CHECKOUT_EXPIRED:
        _set_intent_status(_intent(session, event), IntentStatus.EXPIRED)
        return Effect("checkout expired")
    if kind is Kind.INVOICE_PAID:
        return _invoice_paid(session, event, claim_receipts)
    if kind is Kind.INVOICE_PAYMENT_FAILED:
        return _subscription_status(session, event, "past_due")
    if kind is Kind.SUBSCRIPTION_UPDATED:
        return _subscription_status(session, event, event.status or "active")
    if kind is Kind.SUBSCRIPTION_DELETED:
        return _subscription_status(session, event, "canceled")
    if kind in (Kind.CHARGE_REFUNDED, Kind.DISPUTE_CREATED):
        return _charge_adjusted(session, event)
    return Effect("ignored")
