"""Stripe's JSON events mapped to one normalised ``DonationEvent``.

Like an email provider adapter in django-anymail: this module is the only place
that knows where Stripe keeps each fact (metadata on the session, the
subscription id under ``invoice.parent`` in newer API versions and at the top
level in older ones...). The dispatcher only sees ``DonationEvent``. Pure functions.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from newsletter.errors import NewsletterError


class Kind(enum.StrEnum):
    CHECKOUT_COMPLETED = "checkout.session.completed"
    CHECKOUT_ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
    CHECKOUT_ASYNC_FAILED = "checkout.session.async_payment_failed"
    CHECKOUT_EXPIRED = "checkout.session.expired"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    CHARGE_REFUNDED = "charge.refunded"
    DISPUTE_CREATED = "charge.dispute.created"
    DISPUTE_UPDATED = "charge.dispute.updated"
    DISPUTE_FUNDS_WITHDRAWN = "charge.dispute.funds_withdrawn"
    DISPUTE_FUNDS_REINSTATED = "charge.dispute.funds_reinstated"
    DISPUTE_CLOSED = "charge.dispute.closed"
    OTHER = "other"


#: Every event type the webhook endpoint should be subscribed to.
HANDLED_TYPES = tuple(k.value for k in Kind if k is not Kind.OTHER)


class MalformedEvent(NewsletterError, ValueError):
    """A signed body that is not a Stripe event we can read."""


@dataclass(frozen=True)
class DonationEvent:
    """The facts of one Stripe event that matter to donations (absent ones are empty)."""

    event_id: str
    type: str
    kind: Kind
    created: int
    livemode: bool
    object_id: str = ""
    mode: str = ""  # checkout: payment | subscription
    payment_status: str = ""  # checkout: paid | unpaid | no_payment_required
    # Our DonationIntent.public_id, from metadata / client_reference_id (not Stripe's
    # payment intent, which is ``payment_intent_id``).
    donation_intent: str = ""
    campaign_id: int | None = None
    subscriber_id: int | None = None
    amount_minor: int = 0
    currency: str = ""
    email: str = ""
    name: str = ""
    customer_id: str = ""
    subscription_id: str = ""
    payment_intent_id: str = ""
    invoice_id: str = ""
    charge_id: str = ""
    status: str = ""  # subscription, invoice or dispute status
    refunded_minor: int = 0
    disputed_minor: int = 0


def _str(value: Any) -> str:
    if isinstance(value, Mapping):  # an expanded object: keep its id
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _attribution(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "donation_intent": _str(metadata.get("intent")),
        "campaign_id": _opt_int(metadata.get("campaign")),
        "subscriber_id": _opt_int(metadata.get("subscriber")),
    }


def _checkout(obj: Mapping[str, Any]) -> dict[str, Any]:
    facts = _attribution(_dict(obj.get("metadata")))
    if not facts["donation_intent"]:
        facts["donation_intent"] = _str(obj.get("client_reference_id"))
    details = _dict(obj.get("customer_details"))
    return {
        **facts,
        "mode": _str(obj.get("mode")),
        "payment_status": _str(obj.get("payment_status")),
        "amount_minor": _int(obj.get("amount_total")),
        "currency": _str(obj.get("currency")),
        "email": _str(details.get("email")) or _str(obj.get("customer_email")),
        "name": _str(details.get("name")),
        "customer_id": _str(obj.get("customer")),
        "subscription_id": _str(obj.get("subscription")),
        "payment_intent_id": _str(obj.get("payment_intent")),
    }


def _invoice_subscription(obj: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The subscription id and its metadata, wherever this API version keeps them."""
    details = _dict(_dict(obj.get("parent")).get("subscription_details"))
    sub = _str(details.get("subscription")) or _str(obj.get("subscription"))
    metadata = _dict(details.get("metadata")) or _dict(obj.get("subscription_details")).get(
        "metadata"
    )
    if not sub:
        for line in _dict(obj.get("lines")).get("data") or []:
            item = _dict(_dict(line).get("parent")).get("subscription_item_details")
            sub = _str(_dict(item).get("subscription")) or _str(_dict(line).get("subscription"))
            if sub:
                break
    return sub, _dict(metadata)


def _invoice_payment_intent(obj: Mapping[str, Any]) -> str:
    direct = _str(obj.get("payment_intent"))
    if direct:
        return direct
    for payment in _dict(obj.get("payments")).get("data") or []:
        found = _str(_dict(_dict(payment).get("payment")).get("payment_intent"))
        if found:
            return found
    return ""


def _invoice(obj: Mapping[str, Any]) -> dict[str, Any]:
    sub, metadata = _invoice_subscription(obj)
    return {
        **_attribution(metadata),
        "amount_minor": _int(obj.get("amount_paid")),
        "currency": _str(obj.get("currency")),
        "email": _str(obj.get("customer_email")),
        "name": _str(obj.get("customer_name")),
        "customer_id": _str(obj.get("customer")),
        "subscription_id": sub,
        "invoice_id": _str(obj.get("id")),
        "payment_intent_id": _invoice_payment_intent(obj),
        "charge_id": _str(obj.get("charge")),
        "status": _str(obj.get("status")),
    }


def _subscription(obj: Mapping[str, Any]) -> dict[str, Any]:
    items = _dict(obj.get("items")).get("data") or []
    price = _dict(_dict(items[0]).get("price")) if items else {}
    return {
        **_attribution(_dict(obj.get("metadata"))),
        "subscription_id": _str(obj.get("id")),
        "customer_id": _str(obj.get("customer")),
        "status": _str(obj.get("status")),
        "amount_minor": _int(price.get("unit_amount")),
        "currency": _str(obj.get("currency")),
    }


def _charge(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "charge_id": _str(obj.get("id")),
        "payment_intent_id": _str(obj.get("payment_intent")),
        "invoice_id": _str(obj.get("invoice")),
        "refunded_minor": _int(obj.get("amount_refunded")),
        "amount_minor": _int(obj.get("amount")),
        "currency": _str(obj.get("currency")),
    }


def _dispute(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "charge_id": _str(obj.get("charge")),
        "payment_intent_id": _str(obj.get("payment_intent")),
        "disputed_minor": _int(obj.get("amount")),  # the amount in dispute
        "currency": _str(obj.get("currency")),
        "status": _str(obj.get("status")),
    }


_MAPPERS = {
    Kind.CHECKOUT_COMPLETED: _checkout,
    Kind.CHECKOUT_ASYNC_SUCCEEDED: _checkout,
    Kind.CHECKOUT_ASYNC_FAILED: _checkout,
    Kind.CHECKOUT_EXPIRED: _checkout,
    Kind.INVOICE_PAID: _invoice,
    Kind.INVOICE_PAYMENT_FAILED: _invoice,
    Kind.SUBSCRIPTION_UPDATED: _subscription,
    Kind.SUBSCRIPTION_DELETED: _subscription,
    Kind.CHARGE_REFUNDED: _charge,
    Kind.DISPUTE_CREATED: _dispute,
    Kind.DISPUTE_UPDATED: _dispute,
    Kind.DISPUTE_FUNDS_WITHDRAWN: _dispute,
    Kind.DISPUTE_FUNDS_REINSTATED: _dispute,
    Kind.DISPUTE_CLOSED: _dispute,
}

#: The dispute events: each carries the dispute as it stands.
DISPUTE_KINDS = frozenset(
    [
        Kind.DISPUTE_CREATED,
        Kind.DISPUTE_UPDATED,
        Kind.DISPUTE_FUNDS_WITHDRAWN,
        Kind.DISPUTE_FUNDS_REINSTATED,
        Kind.DISPUTE_CLOSED,
    ]
)


def parse(event: Mapping[str, Any]) -> DonationEvent:
    """Normalise one decoded Stripe event; unknown types become ``Kind.OTHER``."""
    event_id, type_ = _str(event.get("id")), _str(event.get("type"))
    obj = _dict(_dict(event.get("data")).get("object"))
    if event.get("object") != "event" or not event_id or not type_ or not obj:
        raise MalformedEvent("not a Stripe event")
    try:
        kind = Kind(type_)
    except ValueError:
        kind = Kind.OTHER
    mapper = _MAPPERS.get(kind)
    facts = mapper(obj) if mapper else {}
    return DonationEvent(
        event_id=event_id,
        type=type_,
        kind=kind,
        created=_int(event.get("created")),
        livemode=bool(event.get("livemode")),
        object_id=_str(obj.get("id")),
        **facts,
    )
