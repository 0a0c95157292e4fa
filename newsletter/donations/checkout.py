"""Checkout Session parameters for one donation intent. Pure: no Stripe, no database.

One-time gifts use ``mode=payment`` with Stripe's "Donate" button and always
create a Customer (so a receipt address and later refunds line up); monthly
gifts use ``mode=subscription`` with an inline monthly price. Metadata carries our
intent, the campaign and the subscriber: the webhook records only sessions,
subscriptions and invoices whose intent is a row of ours (other integrations on
the same Stripe account may use the same field), and attributes the money by it.
The redirect URLs come from settings only, so nobody can turn the form into an
open redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from newsletter.config import Settings
from newsletter.donations.amounts import THREE_DECIMAL, to_minor
from newsletter.donations.states import Frequency


@dataclass(frozen=True)
class IntentFacts:
    """The parts of a ``DonationIntent`` Stripe needs to hear about."""

    public_id: str
    amount_minor: int  # including any fee the donor chose to cover
    currency: str
    frequency: Frequency
    campaign_id: int | None = None
    subscriber_id: int | None = None
    email: str = ""


@dataclass(frozen=True)
class CheckoutConfig:
    base_url: str
    cancel_url: str
    organisation: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckoutConfig:
        base = settings.public_base_url
        return cls(
            base_url=base,
            cancel_url=f"{base}/donate?cancelled=1",
            organisation=settings.organisation_name,
        )


def idempotency_key(intent: IntentFacts) -> str:
    """Same intent, same key: the stripe library's retries of one request open one session.

    A second submission of the form is a new intent with a new key (and session).
    """
    return f"donation-intent-{intent.public_id}"


def metadata(intent: IntentFacts) -> dict[str, str]:
    data = {"intent": intent.public_id}
    if intent.campaign_id is not None:
        data["campaign"] = str(intent.campaign_id)
    if intent.subscriber_id is not None:
        data["subscriber"] = str(intent.subscriber_id)
    return data


def session_params(intent: IntentFacts, config: CheckoutConfig) -> dict[str, Any]:
    """The ``checkout.sessions.create`` parameters for ``intent``."""
    monthly = intent.frequency is Frequency.MONTHLY
    name = f"{'Monthly donation' if monthly else 'Donation'} to {config.organisation}"
    price: dict[str, Any] = {
        "currency": intent.currency.lower(),
        "unit_amount": intent.amount_minor,
        "product_data": {"name": name},
    }
    tags = metadata(intent)
    params: dict[str, Any] = {
        "line_items": [{"quantity": 1, "price_data": price}],
        "client_reference_id": intent.public_id,
        "metadata": tags,
        "success_url": f"{config.base_url}/donate/thanks?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": config.cancel_url,
    }
    if intent.email:
        params["customer_email"] = intent.email
    if monthly:
        price["recurring"] = {"interval": "month"}
        params["mode"] = "subscription"
        params["subscription_data"] = {"metadata": tags, "description": name}
    else:
        params["mode"] = "payment"
        params["submit_type"] = "donate"
        params["customer_creation"] = "always"
        params["payment_intent_data"] = {"metadata": tags, "description": name}
    return params


def fee_to_cover(amount_minor: int, currency: str, percent: Decimal, fixed: Decimal) -> int:
    """The extra that leaves ``amount_minor`` after a ``percent`` + ``fixed`` card fee."""
    if percent <= 0 and fixed <= 0:
        return 0
    fixed_minor = to_minor(fixed, currency)
    gross = int(
        (Decimal(amount_minor + fixed_minor) / (1 - percent / 100)).to_integral_value(
            rounding="ROUND_CEILING"
        )
    )
    if currency.lower() in THREE_DECIMAL:
        gross = -(-gross // 10) * 10  # Stripe takes these in tens of minor units
    return gross - amount_minor
