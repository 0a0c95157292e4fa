"""Refunds and disputes: applied to their gift, or kept until the gift is known.

Stripe reports running totals per charge, never increments, so applying an event
twice or late leaves the same rows; a dispute only moves forward through its
stages. The gift's status then follows from ``standing.status_after``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.donations.events import DISPUTE_KINDS, DonationEvent, Kind
from newsletter.donations.gifts import Effect, lock_payment
from newsletter.donations.models import ChargeAdjustment, Gift
from newsletter.donations.standing import status_after

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


def _restate(session: Session, gift: Gift) -> None:
    """The gift's refunds and dispute as its charges' adjustments now stand."""
    refunded, disputed = session.execute(
        select(
            func.coalesce(func.max(ChargeAdjustment.refunded_minor), 0),
            func.coalesce(func.max(ChargeAdjustment.disputed_minor), 0),
        ).where(ChargeAdjustment.gift_id == gift.id)
    ).one()
    gift.refunded_minor = max(gift.refunded_minor, refunded)
    gift.disputed_minor = disputed
    gift.status = status_after(gift.amount_minor, gift.refunded_minor, gift.disputed_minor)


def charge_adjusted(session: Session, event: DonationEvent) -> Effect:
    """Apply a refund or dispute (the caller holds the payment's locks, ``payment_keys``)."""
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
    _restate(session, gift)
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
    lock_payment(session, adjustment.payment_intent_id, invoice_id)
    session.refresh(adjustment, with_for_update=True)
    adjustment.invoice_id = invoice_id
    if not invoice_id:  # a one-time payment, or another integration's
        return False
    gift = session.scalar(select(Gift).where(Gift.source_id == invoice_id).with_for_update())
    if gift is None:
        return False  # the instalment's own event folds it in when it comes
    adjustment.gift_id = gift.id
    session.flush()
    _restate(session, gift)
    return True
