"""Applying a ``DonationEvent`` to the donations tables, inside the caller's transaction.

Gifts themselves (the busy path) are recorded in ``gifts``; this module dispatches
and handles the rarer status, refund and dispute events. Every effect is written
so that applying it twice, or after a later event, leaves the same rows: gifts
are keyed by the Stripe object that proves the payment, refunds and disputes
store Stripe's running totals (never increments), a dispute only moves forward
through its stages, and a subscription's status only moves forward in Stripe's
event time.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.donations import gifts
from newsletter.donations.events import DISPUTE_KINDS, DonationEvent, Kind
from newsletter.donations.gifts import Effect
from newsletter.donations.models import (
    ChargeAdjustment,
    DonationIntent,
    Gift,
    GiftStatus,
    IntentStatus,
    RecurringGift,
)

__all__ = ["Effect", "apply"]


def _intent(session: Session, event: DonationEvent) -> DonationIntent | None:
    if not event.intent:
        return None
    return session.scalar(
        select(DonationIntent).where(DonationIntent.public_id == event.intent).with_for_update()
    )


def _set_intent_status(intent: DonationIntent | None, status: IntentStatus) -> None:
    if intent is not None and intent.status != IntentStatus.COMPLETED:
        intent.status = status


#: Each dispute status Stripe reports: how far along it is (a later stage is never
#: overwritten by an earlier one arriving late) and whether the money is withheld.
#: Inquiries (``warning_*``) take no money; a chargeback takes it until it is won.
DISPUTE_STAGES: dict[str, tuple[int, bool]] = {
    "warning_needs_response": (1, False),
    "warning_under_review": (2, False),
    "needs_response": (3, True),
    "under_review": (4, True),
    "warning_closed": (5, False),
    "won": (5, False),
    "prevented": (5, False),
    "lost": (5, True),
    "funds_reinstated": (5, False),
}
_UNKNOWN_STAGE = (0, True)  # a status we do not know: assume the money is gone


def _record_dispute(adjustment: ChargeAdjustment, event: DonationEvent) -> None:
    status = "funds_reinstated" if event.kind is Kind.DISPUTE_FUNDS_REINSTATED else event.status
    stage, withheld = DISPUTE_STAGES.get(status, _UNKNOWN_STAGE)
    recorded = adjustment.dispute_status
    if recorded and stage < DISPUTE_STAGES.get(recorded, _UNKNOWN_STAGE)[0]:
        return  # an older state of the dispute, delivered late
    adjustment.dispute_status = status
    adjustment.disputed_minor = event.disputed_minor if withheld else 0


def _adjust(session: Session, gift: Gift) -> None:
    """The gift's refunds and dispute as its charges' adjustments now stand."""
    refunded, disputed = session.execute(
        select(
            func.coalesce(func.max(ChargeAdjustment.refunded_minor), 0),
            func.coalesce(func.max(ChargeAdjustment.disputed_minor), 0),
        ).where(ChargeAdjustment.gift_id == gift.id)
    ).one()
    gift.refunded_minor = max(gift.refunded_minor, refunded)
    gift.disputed_minor = disputed
    if gift.disputed_minor:
        gift.status = GiftStatus.DISPUTED
    elif gift.refunded_minor >= gift.amount_minor:
        gift.status = GiftStatus.REFUNDED
    elif gift.refunded_minor:
        gift.status = GiftStatus.PARTIALLY_REFUNDED
    else:
        gift.status = GiftStatus.PAID


def _find_recurring(session: Session, subscription_id: str) -> RecurringGift | None:
    found: RecurringGift | None = session.scalar(
        select(RecurringGift)
        .where(RecurringGift.subscription_id == subscription_id)
        .with_for_update()
    )
    return found


def _subscription_status(session: Session, event: DonationEvent, status: str) -> Effect:
    if not event.subscription_id:
        return Effect("no subscription")
    recurring = _find_recurring(session, event.subscription_id)
    if recurring is None:
        intent = gifts.intent_row(session, event)
        if intent is None:  # metadata that names no intent of ours: another integration's
            return Effect("not a subscription from our donate form")
        row = gifts.insert_recurring(session, event, intent)
        recurring = session.get(RecurringGift, row.id)
        assert recurring is not None
    if event.created < recurring.status_at:
        return Effect("older than the status we have")
    if recurring.status == "canceled" and status != "canceled":
        return Effect("already cancelled")  # Stripe never revives a cancelled subscription
    recurring.status = status
    recurring.status_at = event.created
    if status == "canceled" and recurring.canceled_at is None:
        recurring.canceled_at = gifts.when(event)
    return Effect(f"monthly gift {status}")


def _charge_adjusted(session: Session, event: DonationEvent) -> Effect:
    if not event.charge_id:
        return Effect("no charge")
    gifts.lock_payment(session, event.payment_intent_id, event.invoice_id)
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
    if event.kind in DISPUTE_KINDS:
        _record_dispute(adjustment, event)
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
    session.flush()
    _adjust(session, gift)
    return Effect("refund recorded" if event.kind is Kind.CHARGE_REFUNDED else "dispute recorded")


def waiting_without_invoice(session: Session) -> list[tuple[int, str]]:
    """Refunds and disputes still waiting for their gift that name a payment but no
    invoice: (adjustment id, payment intent). Stored so before refunds of monthly
    instalments were matched through the invoice, they need Stripe to say which."""
    rows = session.execute(
        select(ChargeAdjustment.id, ChargeAdjustment.payment_intent_id).where(
            ChargeAdjustment.gift_id.is_(None),
            ChargeAdjustment.invoice_id.is_(None),
            ChargeAdjustment.payment_intent_id.is_not(None),
        )
    ).all()
    return [(row[0], str(row[1])) for row in rows]


def attach_invoice(session: Session, adjustment_id: int, invoice_id: str) -> bool:
    """Note the invoice a waiting adjustment's payment paid ("": none, so it is never
    asked about again), and apply it to that instalment's gift if it is recorded;
    True if a gift was adjusted."""
    adjustment = session.get(ChargeAdjustment, adjustment_id)
    if adjustment is None or adjustment.gift_id is not None:
        return False
    gifts.lock_payment(session, adjustment.payment_intent_id, invoice_id)
    session.refresh(adjustment, with_for_update=True)
    adjustment.invoice_id = invoice_id
    if not invoice_id:  # a one-time payment, or another integration's
        return False
    gift = session.scalar(select(Gift).where(Gift.source_id == invoice_id).with_for_update())
    if gift is None:
        return False  # the instalment's own event folds it in when it comes
    adjustment.gift_id = gift.id
    session.flush()
    _adjust(session, gift)
    return True


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
        return gifts.checkout_paid(session, event, claim_receipts)
    if kind is Kind.CHECKOUT_ASYNC_FAILED:
        _set_intent_status(_intent(session, event), IntentStatus.FAILED)
        return Effect("payment failed")
    if kind is Kind.CHECKOUT_EXPIRED:
        _set_intent_status(_intent(session, event), IntentStatus.EXPIRED)
        return Effect("checkout expired")
    if kind is Kind.INVOICE_PAID:
        return gifts.invoice_paid(session, event, claim_receipts)
    if kind is Kind.INVOICE_PAYMENT_FAILED:
        return _subscription_status(session, event, "past_due")
    if kind is Kind.SUBSCRIPTION_UPDATED:
        return _subscription_status(session, event, event.status or "active")
    if kind is Kind.SUBSCRIPTION_DELETED:
        return _subscription_status(session, event, "canceled")
    if kind is Kind.CHARGE_REFUNDED or kind in DISPUTE_KINDS:
        return _charge_adjusted(session, event)
    return Effect("ignored")
