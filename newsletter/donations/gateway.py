"""The Stripe adapter: the only module that calls Stripe's API.

Built from settings by ``newsletter.wiring.stripe_gateway``. Timeouts and a few
network retries are safe here because every session creation carries an
idempotency key. Stripe's exceptions become ``PaymentProviderError`` with a
message fit for a donor; the details go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import stripe

from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)


class PaymentProviderError(NewsletterError, RuntimeError):
    """Stripe refused a request or could not be reached."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True)
class SessionSummary:
    """What the thanks page may say about a session (it never records money)."""

    id: str
    status: str
    payment_status: str
    mode: str
    amount_minor: int
    currency: str
    email: str


@dataclass(frozen=True)
class AccountSummary:
    """The Stripe account a secret key belongs to, as ``donations check`` reports it."""

    id: str
    country: str
    default_currency: str
    charges_enabled: bool


class Gateway(Protocol):
    def create_checkout_session(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> CheckoutSession: ...

    def retrieve_checkout_session(self, session_id: str) -> SessionSummary: ...

    def create_portal_session(self, customer_id: str, return_url: str) -> str: ...

    def list_events(self, *, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]: ...

    def invoice_paid_by(self, payment_intent_id: str) -> str: ...

    def account(self) -> AccountSummary: ...


class StripeGateway:
    """``Gateway`` over ``stripe.StripeClient``; ``api_base`` points tests at a local fake."""

    def __init__(
        self, secret_key: str, *, api_base: str = "", timeout: float = 20.0, retries: int = 2
    ) -> None:
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.RequestsClient(timeout=timeout),
            max_network_retries=retries,
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            log.warning("Stripe refused to %s: %s", what, exc)
            message = "the payment service is not reachable just now; please try again shortly"
            if isinstance(exc, stripe.InvalidRequestError):
                message = f"the payment service refused the request: {exc.user_message or exc}"
            raise PaymentProviderError(message) from exc

    def create_checkout_session(
        self, params: Mapping[str, Any], *, idempotency_key: str
    ) -> CheckoutSession:
        session = self._call(
            "create a Checkout Session",
            self.client.v1.checkout.sessions.create,
            params=dict(params),
            options={"idempotency_key": idempotency_key},
        )
        return CheckoutSession(id=session.id, url=session.url or "")

    def retrieve_checkout_session(self, session_id: str) -> SessionSummary:
        session = self._call(
            "read a Checkout Session", self.client.v1.checkout.sessions.retrieve, session_id
        )
        details = session.customer_details
        return SessionSummary(
            id=session.id,
            status=session.status or "",
            payment_status=session.payment_status or "",
            mode=session.mode or "",
            amount_minor=session.amount_total or 0,
            currency=session.currency or "",
            email=(details.email if details else None) or session.customer_email or "",
        )

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        portal = self._call(
            "open the billing portal",
            self.client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": return_url},
        )
        return str(portal.url)

    def list_events(self, *, created_gte: int, types: list[str]) -> Iterator[dict[str, Any]]:
        """Events since ``created_gte``, oldest first (Stripe lists newest first)."""

        def fetch() -> list[dict[str, Any]]:
            page = self.client.v1.events.list(
                params={"created": {"gte": created_gte}, "types": types, "limit": 100}
            )
            return [event.to_dict() for event in page.auto_paging_iter()]

        found: list[dict[str, Any]] = self._call("list events", fetch)
        yield from sorted(found, key=lambda e: (e.get("created", 0), e.get("id", "")))

    def invoice_paid_by(self, payment_intent_id: str) -> str:
        """The invoice ``payment_intent_id`` paid ("" if it paid none: a one-time gift).

        Since API version 2025-03-31.basil neither an invoice nor a charge names the
        other, so a refund of a monthly instalment cannot find its gift without this.
        """
        page = self._call(
            "find the invoice a payment paid",
            self.client.v1.invoice_payments.list,
            params={
                "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
                "status": "paid",
                "limit": 1,
            },
        )
        for payment in page.data:
            invoice = payment.invoice
            return invoice if isinstance(invoice, str) else str(invoice.id)
        return ""

    def account(self) -> AccountSummary:
        """The key's own account: Stripe answers only if it accepts the key."""
        found = self._call("read the account", self.client.v1.accounts.retrieve_current)
        data = found.to_dict()
        return AccountSummary(
            id=str(found.id),
            country=str(data.get("country") or ""),
            default_currency=str(data.get("default_currency") or ""),
            charges_enabled=bool(data.get("charges_enabled")),
        )
