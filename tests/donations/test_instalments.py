"""Monthly instalments: found by their payment intent, which newer invoices leave out."""

from __future__ import annotations

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.models import Frequency, GiftStatus
from newsletter.donations.webhook import WebhookProcessor
from tests.donations.conftest import SECRET_KEY, db_sessions, deliver, post_event
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import event_rows, gifts, start

PATH = "/v1/invoice_payments"


@pytest.mark.parametrize("refund_first", [False, True])
def test_a_refunded_instalment_is_found_by_its_payment(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    refund_first: bool,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=1000, frequency=Frequency.MONTHLY)
    session = fake_stripe.pay(sid)
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    invoice = fake_stripe.invoice(session)
    assert "payments" not in invoice  # Stripe's default shape: nothing names the payment
    paid = fake_stripe.event("invoice.paid", invoice)
    charge = fake_stripe.charge(fake_stripe.paid_by(invoice["id"]), 1000, refunded=1000)
    refund = fake_stripe.event("charge.refunded", charge)
    for event in [refund, paid] if refund_first else [paid, refund]:
        deliver(processor, event)
    [gift] = gifts(sessions)
    assert gift.payment_intent_id == fake_stripe.paid_by(invoice["id"])
    assert (gift.status, gift.net_minor) == (GiftStatus.REFUNDED, 0)


def test_stripe_unreachable_answers_500_records_nothing_and_the_retry_works(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    sessions = db_sessions(client)
    sid = start(sessions, stripe_settings, fake_stripe, amount=1200, frequency=Frequency.MONTHLY)
    session = fake_stripe.pay(sid)
    assert post_event(client, fake_stripe.event("checkout.session.completed", session)).is_success
    invoice = fake_stripe.invoice(session)
    event = fake_stripe.event("invoice.paid", invoice)
    fake_stripe.outages[PATH] = 99
    try:
        failed = post_event(client, event)
    finally:
        fake_stripe.outages.pop(PATH, None)
    assert failed.status_code == 500
    assert (gifts(sessions), event_rows(sessions)) == ([], 1)
    assert post_event(client, event).json()["outcome"] == "gift recorded"
    [gift] = gifts(sessions)
    assert gift.payment_intent_id == fake_stripe.paid_by(invoice["id"])


def test_the_fake_lists_invoice_payments_as_strictly_as_stripe(fake_stripe: FakeStripe) -> None:
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake_stripe.url})
    for params in ({"invoice": "in_missing"}, {"status": "settled"}, {"limit": 101}):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.invoice_payments.list(params=params)  # type: ignore[arg-type]
