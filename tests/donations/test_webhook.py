"""Signed Stripe events in, gifts out: exactly once, in any order, never half-recorded."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.models import DonationIntent, RecurringGift, StripeEventRecord
from newsletter.donations.states import Frequency, GiftStatus, IntentStatus
from newsletter.donations.webhook import WebhookProcessor, WebhookRejected, verify
from tests.donations.conftest import (
    WEBHOOK_SECRET,
    RecordingSender,
    db_sessions,
    deliver,
    post_event,
    signed,
)
from tests.donations.fake_stripe import FakeStripe, sign
from tests.donations.helpers import completed, event_rows, gifts, start

# -- signatures ---------------------------------------------------------------

BODY = b'{"id": "evt_1", "object": "event"}'


def test_signature_valid_and_rotated_secrets() -> None:
    verify(BODY, sign(BODY.decode(), WEBHOOK_SECRET), [WEBHOOK_SECRET], 300)
    # During a secret roll Stripe signs with both secrets: one matching v1 is enough.
    old = sign(BODY.decode(), "whsec_old")
    new = sign(BODY.decode(), WEBHOOK_SECRET)
    both = f"{old},v1={new.split('v1=')[1]}"
    verify(BODY, both, [WEBHOOK_SECRET], 300)
    # And we may accept two configured secrets while moving endpoints.
    verify(BODY, old, ["whsec_other", "whsec_old"], 300)


@pytest.mark.parametrize(
    ("body", "header", "reason"),
    [
        (BODY + b" ", sign(BODY.decode(), WEBHOOK_SECRET), "tampered"),
        (BODY, sign(BODY.decode(), "whsec_wrong"), "wrong secret"),
        (BODY, sign(BODY.decode(), WEBHOOK_SECRET, timestamp=int(time.time()) - 301), "stale"),
        (BODY, None, "missing"),
        (BODY, "garbage", "unparseable"),
        (BODY, f"t={int(time.time())},v0=abc", "no v1"),
    ],
)
def test_signature_refused(body: bytes, header: str | None, reason: str) -> None:
    with pytest.raises(WebhookRejected):
        verify(body, header, [WEBHOOK_SECRET], 300)


def test_endpoint_answers_400_for_bad_signatures_and_200_for_good(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    event = fake_stripe.event("customer.created", {"id": "cus_x", "object": "customer"})
    body, header = signed(event)
    tampered = client.post(
        "/stripe/webhook",
        content=body.replace(b"cus_x", b"cus_y"),
        headers={"Stripe-Signature": header},
    )
    assert tampered.status_code == 400
    missing = client.post("/stripe/webhook", content=body)
    assert missing.status_code == 400
    assert event_rows(db_sessions(client)) == 0
    assert post_event(client, event).status_code == 200
    assert event_rows(db_sessions(client)) == 1


def test_live_event_refused_with_test_key(
    processor: WebhookProcessor, fake_stripe: FakeStripe, sessions: sessionmaker[Session]
) -> None:
    event = fake_stripe.event("invoice.paid", {"id": "in_1", "object": "invoice"}, livemode=True)
    with pytest.raises(WebhookRejected, match="live-mode"):
        deliver(processor, event)
    assert event_rows(sessions) == 0


# -- one-time gifts -----------------------------------------------------------


def test_paid_checkout_records_one_attributed_gift_and_one_receipt(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=2500, campaign_id=12)
    session, event = completed(fake_stripe, sid, email="Ann@Example.org", name="Ann")
    first = deliver(processor, event)
    again = deliver(processor, event)
    assert (first.duplicate, again.duplicate) == (False, True)
    [gift] = gifts(sessions)
    assert (gift.amount_minor, gift.currency, gift.campaign_id) == (2500, "gbp", 12)
    assert gift.frequency == Frequency.ONCE and gift.payment_intent_id == session["payment_intent"]
    assert [r.to_address for r in sender.sent] == ["Ann@Example.org"]
    assert sender.sent[0].amount == "£25"
    assert gift.receipt_sent_at is not None
    with sessions() as s:
        intent = s.scalar(select(DonationIntent))
        assert intent is not None and intent.status == IntentStatus.COMPLETED
    assert event_rows(sessions) == 1


def test_each_event_stores_what_applying_it_did(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    """The outcome is stored with the event as usually expected, and rewritten when the
    event turned out otherwise (a second event for one payment, another shop's sale)."""
    sid = start(sessions, stripe_settings, fake_stripe)
    session, event = completed(fake_stripe, sid, email="ann@example.org")
    resent = fake_stripe.event("checkout.session.completed", session)  # a new event id
    foreign = dict(session, id="cs_shop", metadata={}, client_reference_id=None)
    results = [
        deliver(processor, e)
        for e in (event, resent, fake_stripe.event("checkout.session.completed", foreign))
    ]
    with sessions() as s:
        rows = s.execute(select(StripeEventRecord.event_id, StripeEventRecord.outcome)).all()
    stored = {row[0]: row[1] for row in rows}
    assert stored == {r.event_id: r.outcome for r in results}
    assert [r.outcome.split(":")[0] for r in results] == [
        "gift recorded",
        "gift already recorded",
        "ignored",
    ]


def test_unpaid_checkout_waits_for_async_success(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=5000)
    session = fake_stripe.pay(sid, paid=False)
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    assert gifts(sessions) == [] and sender.sent == []
    with sessions() as s:
        assert s.scalar(select(DonationIntent.status)) == IntentStatus.AWAITING_PAYMENT
    session["payment_status"] = "paid"
    deliver(processor, fake_stripe.event("checkout.session.async_payment_succeeded", session))
    [gift] = gifts(sessions)
    assert gift.amount_minor == 5000 and len(sender.sent) == 1


def test_async_failure_and_expiry_record_no_money(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    failed = start(sessions, stripe_settings, fake_stripe, amount=1100)
    expired = start(sessions, stripe_settings, fake_stripe, amount=1200)
    deliver(
        processor,
        fake_stripe.event(
            "checkout.session.async_payment_failed", fake_stripe.pay(failed, paid=False)
        ),
    )
    deliver(processor, fake_stripe.event("checkout.session.expired", fake_stripe.sessions[expired]))
    with sessions() as s:
        statuses = dict(
            s.execute(select(DonationIntent.checkout_session_id, DonationIntent.status)).all()
        )
    assert statuses == {failed: IntentStatus.FAILED, expired: IntentStatus.EXPIRED}
    assert gifts(sessions) == []


def test_refund_and_dispute_after_payment(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=4000)
    session, event = completed(fake_stripe, sid)
    deliver(processor, event)
    charge = fake_stripe.charge(session["payment_intent"], 4000, refunded=1000)
    deliver(processor, fake_stripe.event("charge.refunded", charge))
    [gift] = gifts(sessions)
    assert (gift.status, gift.refunded_minor, gift.net_minor) == (
        GiftStatus.PARTIALLY_REFUNDED,
        1000,
        3000,
    )
    # An older, smaller refund event arriving late changes nothing.
    deliver(
        processor,
        fake_stripe.event(
            "charge.refunded",
            fake_stripe.charge(
                session["payment_intent"], 4000, refunded=500, charge_id=charge["id"]
            ),
        ),
    )
    assert gifts(sessions)[0].refunded_minor == 1000
    deliver(processor, fake_stripe.event("charge.dispute.created", fake_stripe.dispute(charge)))
    [gift] = gifts(sessions)
    assert (gift.status, gift.disputed_minor) == (GiftStatus.DISPUTED, 4000)


def test_refund_before_the_payment_is_applied_when_it_arrives(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=3000)
    session = fake_stripe.pay(sid)
    refund = fake_stripe.event(
        "charge.refunded", fake_stripe.charge(session["payment_intent"], 3000, refunded=3000)
    )
    deliver(processor, refund)
    assert gifts(sessions) == []
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    [gift] = gifts(sessions)
    assert (gift.status, gift.net_minor) == (GiftStatus.REFUNDED, 0)


# -- monthly gifts ------------------------------------------------------------


def test_invoice_paid_before_checkout_completed(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(
        sessions,
        stripe_settings,
        fake_stripe,
        amount=1000,
        frequency=Frequency.MONTHLY,
        campaign_id=5,
    )
    session = fake_stripe.pay(sid, email="mo@example.org")
    first_invoice = fake_stripe.invoice(session)
    deliver(processor, fake_stripe.event("invoice.paid", first_invoice))
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    deliver(processor, fake_stripe.event("invoice.paid", first_invoice))  # Stripe resends
    [gift] = gifts(sessions)
    assert (gift.frequency, gift.amount_minor, gift.campaign_id) == (Frequency.MONTHLY, 1000, 5)
    assert gift.subscription_id == session["subscription"] and gift.intent_id is not None
    # Next month's instalment is another gift, counted once.
    second = fake_stripe.invoice(session, reason="subscription_cycle")
    deliver(processor, fake_stripe.event("invoice.paid", second))
    deliver(processor, fake_stripe.event("invoice.paid", second))
    assert [g.amount_minor for g in gifts(sessions)] == [1000, 1000]
    assert len(sender.sent) == 2
    with sessions() as s:
        [recurring] = s.scalars(select(RecurringGift)).all()
        assert recurring.donor_email == "mo@example.org" and recurring.campaign_id == 5


def test_subscription_status_follows_stripe_time_not_arrival_order(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, frequency=Frequency.MONTHLY)
    sub = dict(
        fake_stripe.fixtures["subscription"],
        id="sub_order",
        status="active",
        metadata={"intent": fake_stripe.sessions[sid]["metadata"]["intent"]},
    )
    now = int(time.time())
    deliver(
        processor,
        fake_stripe.event(
            "customer.subscription.deleted", dict(sub, status="canceled"), created=now
        ),
    )
    deliver(
        processor,
        fake_stripe.event(
            "customer.subscription.updated", dict(sub, status="past_due"), created=now - 60
        ),
    )
    with sessions() as s:
        recurring = s.scalar(
            select(RecurringGift).where(RecurringGift.subscription_id == "sub_order")
        )
        assert recurring is not None and recurring.status == "canceled"
        assert recurring.canceled_at is not None


# -- concurrency and failure --------------------------------------------------


def test_concurrent_deliveries_of_one_event_count_once(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=7700)
    _, event = completed(fake_stripe, sid)
    body, header = signed(event)
    barrier = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(processor.handle(body, header))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    assert [g.amount_minor for g in gifts(sessions)] == [7700]
    assert len(sender.sent) == 1 and event_rows(sessions) == 1


def _refuse_gifts(engine: Engine, on: bool) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_gifts"))
            if on:
                conn.execute(
                    text(
                        "CREATE TRIGGER refuse_gifts BEFORE INSERT ON donations "
                        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                    )
                )
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_gifts ON donations"))
            if on:
                conn.execute(
                    text(
                        "CREATE OR REPLACE FUNCTION refuse_gifts() RETURNS trigger AS "
                        "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
                    )
                )
                conn.execute(
                    text(
                        "CREATE TRIGGER refuse_gifts BEFORE INSERT ON donations "
                        "FOR EACH ROW EXECUTE FUNCTION refuse_gifts()"
                    )
                )


def test_failure_answers_500_records_nothing_and_the_retry_works(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe, engine: Engine
) -> None:
    sessions = db_sessions(client)
    sid = start(sessions, stripe_settings, fake_stripe, amount=2000)
    _, event = completed(fake_stripe, sid)
    _refuse_gifts(engine, True)
    try:
        assert post_event(client, event).status_code == 500
    finally:
        _refuse_gifts(engine, False)
    assert event_rows(sessions) == 0 and gifts(sessions) == []
    with sessions() as s:
        assert s.scalar(select(DonationIntent.status)) == IntentStatus.OPEN
    retried = post_event(client, event)
    assert retried.status_code == 200 and json.loads(retried.text)["duplicate"] is False
    assert [g.amount_minor for g in gifts(sessions)] == [2000]


def test_invoices_of_other_subscriptions_are_not_gifts(
    processor: WebhookProcessor, sessions: sessionmaker[Session], fake_stripe: FakeStripe
) -> None:
    membership = {
        "amount_total": 1500,
        "currency": "gbp",
        "customer": "cus_member",
        "customer_details": {"email": "m@example.org", "name": "M"},
        "subscription": "sub_membership",
        "metadata": {},
    }
    result = deliver(processor, fake_stripe.event("invoice.paid", fake_stripe.invoice(membership)))
    assert result.outcome.startswith("not a subscription") and gifts(sessions) == []


def test_status_events_of_other_subscriptions_are_ignored(
    processor: WebhookProcessor, sessions: sessionmaker[Session], fake_stripe: FakeStripe
) -> None:
    sub = dict(fake_stripe.fixtures["subscription"], id="sub_member", status="active", metadata={})
    deliver(processor, fake_stripe.event("customer.subscription.updated", sub))
    with sessions() as s:
        assert s.scalar(select(RecurringGift)) is None


def test_any_delivery_order_gives_the_same_ledger(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    """A one-time gift refunded in part and a monthly gift with two instalments, each
    delivered in several random orders with repeats: the books always agree."""
    import random

    rng = random.Random(2026)
    outcomes = set()
    for _ in range(4):
        once = fake_stripe.pay(
            start(sessions, stripe_settings, fake_stripe, amount=3000, campaign_id=1)
        )
        monthly = fake_stripe.pay(
            start(
                sessions,
                stripe_settings,
                fake_stripe,
                amount=800,
                frequency=Frequency.MONTHLY,
                campaign_id=2,
            )
        )
        events = [
            fake_stripe.event("checkout.session.completed", once),
            fake_stripe.event(
                "charge.refunded", fake_stripe.charge(once["payment_intent"], 3000, refunded=1200)
            ),
            fake_stripe.event("checkout.session.completed", monthly),
            fake_stripe.event("invoice.paid", fake_stripe.invoice(monthly)),
            fake_stripe.event(
                "invoice.paid", fake_stripe.invoice(monthly, reason="subscription_cycle")
            ),
        ]
        deliveries = events + rng.sample(events, 3)
        rng.shuffle(deliveries)
        for event in deliveries:
            deliver(processor, event)
        mine = [g for g in gifts(sessions) if g.checkout_session_id in (once["id"], monthly["id"])]
        outcomes.add(
            tuple(
                sorted(
                    (g.frequency, g.campaign_id, g.amount_minor, g.net_minor, g.status)
                    for g in mine
                )
            )
        )
    assert outcomes == {
        (
            ("monthly", 2, 800, 800, "paid"),
            ("monthly", 2, 800, 800, "paid"),
            ("once", 1, 3000, 1800, "partially_refunded"),
        )
    }
