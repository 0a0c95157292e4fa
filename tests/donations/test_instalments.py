"""Monthly instalments: found by their payment intent, which newer invoices leave out."""

from __future__ import annotations

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.states import Frequency, GiftStatus
from newsletter.donations.webhook import WebhookProcessor
from tests.donations.conftest import SECRET_KEY, db_sessions, deliver, post_event
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import event_rows, gifts, start

PATH = "/v1/invoice_payments"


def _asked(fake_stripe: FakeStripe) -> int:
    return sum(1 for _, path, _ in fake_stripe.requests if path == PATH)


@pytest.mark.parametrize("refund_first", [False, True])
def test_a_refunded_instalment_is_found_through_its_invoice(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    refund_first: bool,
) -> None:
    asked = _asked(fake_stripe)  # the fake serves the whole session
    sid = start(sessions, stripe_settings, fake_stripe, amount=1000, frequency=Frequency.MONTHLY)
    session = fake_stripe.pay(sid)
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    invoice = fake_stripe.invoice(session)
    assert "payments" not in invoice  # Stripe's default shape: nothing names the payment
    paid = fake_stripe.event("invoice.paid", invoice)
    charge = fake_stripe.charge(fake_stripe.paid_by(invoice["id"]), 1000, refunded=1000)
    assert not charge.get("invoice")  # nor does the charge name the invoice
    refund = fake_stripe.event("charge.refunded", charge)
    for event in [refund, paid] if refund_first else [paid, refund]:
        deliver(processor, event)
    [gift] = gifts(sessions)
    assert gift.source_id == invoice["id"]
    assert (gift.status, gift.net_minor) == (GiftStatus.REFUNDED, 0)
    assert _asked(fake_stripe) == asked + 1  # at the refund only


def test_instalments_never_wait_on_stripe_and_a_refund_retries_through_an_outage(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    sessions = db_sessions(client)
    sid = start(sessions, stripe_settings, fake_stripe, amount=1200, frequency=Frequency.MONTHLY)
    session = fake_stripe.pay(sid)
    assert post_event(client, fake_stripe.event("checkout.session.completed", session)).is_success
    invoice = fake_stripe.invoice(session)
    charge = fake_stripe.charge(fake_stripe.paid_by(invoice["id"]), 1200, refunded=200)
    refund = fake_stripe.event("charge.refunded", charge)
    fake_stripe.outages[PATH] = 99
    try:
        # Stripe's API is down: the instalment is recorded all the same...
        paid = post_event(client, fake_stripe.event("invoice.paid", invoice))
        assert paid.json()["outcome"] == "gift recorded"
        # ...and its refund answers 500, recording nothing, so Stripe sends it again.
        failed = post_event(client, refund)
    finally:
        fake_stripe.outages.pop(PATH, None)
    assert failed.status_code == 500
    assert event_rows(sessions) == 2
    assert post_event(client, refund).json()["outcome"] == "refund recorded"
    [gift] = gifts(sessions)
    assert (gift.status, gift.net_minor) == (GiftStatus.PARTIALLY_REFUNDED, 1000)


def test_a_one_time_gifts_refund_asks_stripe_nothing(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    asked = _asked(fake_stripe)
    sid = start(sessions, stripe_settings, fake_stripe, amount=1500)
    session = fake_stripe.pay(sid)
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    charge = fake_stripe.charge(session["payment_intent"], 1500, refunded=1500)
    deliver(processor, fake_stripe.event("charge.refunded", charge))
    [gift] = gifts(sessions)
    assert gift.status == GiftStatus.REFUNDED
    assert _asked(fake_stripe) == asked


def test_the_fake_lists_invoice_payments_as_strictly_as_stripe(fake_stripe: FakeStripe) -> None:
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake_stripe.url})
    for params in (
        {"invoice": "in_missing"},
        {"status": "settled"},
        {"limit": 101},
        {"payment": {"payment_intent": "pi_123"}},  # payment[type] is required
        {"payment": {"type": "card", "payment_intent": "pi_123"}},
    ):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.invoice_payments.list(params=params)  # type: ignore[arg-type]
