"""The Stripe event dispatcher: each ``DonationEvent`` to the rule that applies it.

Runs inside the caller's transaction (``webhook.WebhookProcessor`` records the
event id in the same one). Money received is recorded by ``gifts``, monthly
statuses by ``monthly``, refunds and disputes by ``adjustments``; the intent an
event names is loaded by ``intents.intent_row``. Every effect is written so that
applying it twice, or after a later event, leaves the same rows.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from newsletter.donations import adjustments, gifts, monthly
from newsletter.donations.events import DISPUTE_KINDS, DonationEvent, Kind
from newsletter.donations.gifts import Effect
from newsletter.donations.intents import intent_row
from newsletter.donations.states import IntentStatus

__all__ = ["Effect", "dispatch", "likely_outcome"]


def likely_outcome(event: DonationEvent) -> str:
    """The outcome ``dispatch`` usually reports for ``event`` (a gift recorded, a monthly
    gift started), so the webhook can store it with the event and write it again only
    when it turns out otherwise; "" when no outcome is usual."""
    if event.kind is Kind.INVOICE_PAID:
        return "gift recorded"
    checkout = event.kind in (Kind.CHECKOUT_COMPLETED, Kind.CHECKOUT_ASYNC_SUCCEEDED)
    if checkout and event.payment_status == "paid":
        return "monthly gift started" if event.mode == "subscription" else "gift recorded"
    return ""


def dispatch(session: Session, event: DonationEvent, *, claim_receipts: bool = False) -> Effect:
    """Apply ``event`` to the database in ``session`` (the caller commits, and holds the
    payment's locks, ``gifts.payment_keys``, taken before anything was read).

    With ``claim_receipts`` a new gift is stored with its receipt claimed, and the
    caller must send ``Effect.receipts`` after commit (or release them on failure).
    """
    kind = event.kind
    if kind in (Kind.CHECKOUT_COMPLETED, Kind.CHECKOUT_ASYNC_SUCCEEDED):
        if event.payment_status != "paid":
            intent_row(session, event, IntentStatus.AWAITING_PAYMENT)
            return Effect("waiting for the payment")
        return gifts.checkout_paid(session, event, claim_receipts)
    if kind is Kind.CHECKOUT_ASYNC_FAILED:
        intent_row(session, event, IntentStatus.FAILED)
        return Effect("payment failed")
    if kind is Kind.CHECKOUT_EXPIRED:
        intent_row(session, event, IntentStatus.EXPIRED)
        return Effect("checkout expired")
    if kind is Kind.INVOICE_PAID:
        return gifts.invoice_paid(session, event, claim_receipts)
    if kind is Kind.INVOICE_PAYMENT_FAILED:
        return monthly.subscription_status(session, event, "past_due")
    if kind is Kind.SUBSCRIPTION_UPDATED:
        return monthly.subscription_status(session, event, event.status or "active")
    if kind is Kind.SUBSCRIPTION_DELETED:
        return monthly.subscription_status(session, event, "canceled")
    if kind is Kind.CHARGE_REFUNDED or kind in DISPUTE_KINDS:
        return adjustments.charge_adjusted(session, event)
    return Effect("ignored")
