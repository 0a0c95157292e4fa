"""Reconcile reads a fixed window of Stripe's events, so nothing lost in an outage stays lost."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from newsletter.cli.app import app as cli
from newsletter.config import Settings
from newsletter.donations.events import HANDLED_TYPES, parse
from newsletter.donations.gateway import PaymentProviderError, StripeGateway
from newsletter.donations.reconcile import DAY, BadSince, parse_since, reconcile
from newsletter.donations.states import Frequency, GiftStatus
from newsletter.donations.webhook import WebhookProcessor
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET, RecordingSender
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import gifts, start


def _processor(
    sessions: sessionmaker[Session], gateway: StripeGateway | None = None
) -> WebhookProcessor:
    """Without ``gateway`` it cannot ask Stripe which invoice a refunded payment paid."""
    return WebhookProcessor(
        sessions,
        secrets=[WEBHOOK_SECRET],
        livemode=False,
        receipts=RecordingSender(),
        invoice_paid_by=gateway.invoice_paid_by if gateway is not None else None,
    )


def _paid_event(
    sessions: sessionmaker[Session], settings: Settings, fake: FakeStripe, amount: int, at: int
) -> dict[str, object]:
    paid = fake.pay(start(sessions, settings, fake, amount=amount))
    return fake.event("checkout.session.completed", paid, created=at)


def test_events_lost_before_the_newest_delivery_are_applied(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    """An outage long enough for Stripe to give up, then one delivery that got through."""
    fake_stripe.events.clear()
    processor = _processor(sessions)
    now = int(time.time())
    _paid_event(sessions, stripe_settings, fake_stripe, 2600, now - 4 * DAY)  # lost
    processor.process(parse(_paid_event(sessions, stripe_settings, fake_stripe, 1500, now)))
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    outcome = reconcile(sessions, gateway, processor)
    assert (len(outcome.applied), outcome.already) == (1, 1)
    assert sorted(g.amount_minor for g in gifts(sessions)) == [1500, 2600]


def test_the_window_defaults_to_a_week_and_since_widens_it(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    fake_stripe.events.clear()
    processor = _processor(sessions)
    now = int(time.time())
    _paid_event(sessions, stripe_settings, fake_stripe, 3100, now - 10 * DAY)
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    assert reconcile(sessions, gateway, processor, now=now).listed == 0
    wider = reconcile(sessions, gateway, processor, since=parse_since("2w", now), now=now)
    assert wider.listed == 1 and [g.amount_minor for g in gifts(sessions)] == [3100]
    # never further back than Stripe keeps events
    assert reconcile(sessions, gateway, processor, since=0, now=now).since == now - 30 * DAY


def test_since_takes_durations_and_dates() -> None:
    now = 1_800_000_000
    assert parse_since("36h", now) == now - 36 * 3600
    assert parse_since("3d", now) == now - 3 * DAY
    assert parse_since("2w", now) == now - 14 * DAY
    assert parse_since("2026-11-01", now) == 1_793_491_200
    assert parse_since("2026-11-01T01:00+01:00", now) == 1_793_491_200
    assert parse_since("2026-11-01T00:00Z", now) == 1_793_491_200  # ISO 8601's UTC
    assert parse_since("2026-11-01t00:00:00.000z", now) == 1_793_491_200
    for bad in ("yesterday", "3x", "", "2026-13-01"):
        with pytest.raises(BadSince):
            parse_since(bad, now)


def test_cli_refuses_a_since_it_cannot_read() -> None:
    result = CliRunner().invoke(cli, ["donations", "reconcile", "--since", "lately"])
    assert isinstance(result.exception, BadSince)


def test_the_types_we_ask_for_fit_stripes_limit(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    assert len(HANDLED_TYPES) <= 20  # Stripe refuses more in one listing
    with pytest.raises(PaymentProviderError, match="at most 20"):
        list(gateway.list_events(created_gte=0, types=[f"type.{i}" for i in range(21)]))


def test_an_event_stripe_cannot_complete_does_not_stop_the_others(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    """A missed refund of an instalment needs Stripe to say which invoice it paid; while
    that question fails, the refund waits for the next run and the rest are applied."""
    fake_stripe.events.clear()
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    processor = _processor(sessions, gateway)
    now = int(time.time())
    monthly = fake_stripe.pay(
        start(sessions, stripe_settings, fake_stripe, amount=1000, frequency=Frequency.MONTHLY)
    )
    processor.process(parse(fake_stripe.event("checkout.session.completed", monthly)))
    invoice = fake_stripe.invoice(monthly)
    processor.process(parse(fake_stripe.event("invoice.paid", invoice)))
    charge = fake_stripe.charge(fake_stripe.paid_by(invoice["id"]), 1000, refunded=1000)
    fake_stripe.event("charge.refunded", charge, created=now - 60)  # missed
    _paid_event(sessions, stripe_settings, fake_stripe, 2600, now - 30)  # missed too
    fake_stripe.outages["/v1/invoice_payments"] = 99
    try:
        first = reconcile(sessions, gateway, processor)
    finally:
        fake_stripe.outages.pop("/v1/invoice_payments", None)
    assert first.failed == 1 and len(first.applied) == 1
    assert sorted(g.amount_minor for g in gifts(sessions)) == [1000, 2600]
    again = reconcile(sessions, gateway, processor)
    assert again.failed == 0 and [r.outcome for r in again.applied] == ["refund recorded"]


def test_a_refund_left_waiting_for_its_instalment_is_applied_by_reconcile(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    """A refund stored when nothing could name the invoice its payment paid (the way
    it was kept before refunds asked Stripe) waits for good; reconcile asks, once."""
    fake_stripe.events.clear()
    unaware = _processor(sessions)  # cannot ask Stripe which invoice a payment paid
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    monthly = fake_stripe.pay(
        start(sessions, stripe_settings, fake_stripe, amount=1000, frequency=Frequency.MONTHLY)
    )
    unaware.process(parse(fake_stripe.event("checkout.session.completed", monthly)))
    invoice = fake_stripe.invoice(monthly)
    unaware.process(parse(fake_stripe.event("invoice.paid", invoice)))
    charge = fake_stripe.charge(fake_stripe.paid_by(invoice["id"]), 1000, refunded=1000)
    waiting = unaware.process(parse(fake_stripe.event("charge.refunded", charge)))
    assert waiting.outcome == "kept until the payment is known"
    aware = _processor(sessions, gateway)
    outcome = reconcile(sessions, gateway, aware)
    assert (outcome.relinked, outcome.failed, len(outcome.applied)) == (1, 0, 0)
    [gift] = gifts(sessions)
    assert (gift.status, gift.net_minor) == (GiftStatus.REFUNDED, 0)
    asked = len(fake_stripe.requests)
    assert reconcile(sessions, gateway, aware).relinked == 0
    assert not [r for r in fake_stripe.requests[asked:] if r[1] == "/v1/invoice_payments"]
