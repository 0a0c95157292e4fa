"""Receipts sent after the webhook has answered: once each, retried when the mail fails."""

from __future__ import annotations

import mailbox
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.donations.events import parse
from newsletter.donations.models import Gift
from newsletter.donations.receipts.background import ReceiptCourier
from newsletter.donations.receipts.content import Receipt
from newsletter.donations.receipts.delivery import (
    CLAIM_LEASE,
    RECLAIM_AFTER,
    release,
    send_pending,
)
from newsletter.donations.webhook import WebhookProcessor
from newsletter.web.app import create_app
from tests.donations.conftest import WEBHOOK_SECRET, RecordingSender, post_event
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import completed, gifts, start


def test_webhook_answers_then_the_receipt_goes_out_once(
    stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    with TestClient(create_app(stripe_settings), base_url="https://news.example.org") as client:
        sessions: sessionmaker[Session] = client.app.state.sessions  # type: ignore[attr-defined]
        sid = start(sessions, stripe_settings, fake_stripe, amount=4200)
        _, event = completed(fake_stripe, sid, email="bo@example.org", name="Bo")
        answers = [post_event(client, event).json() for _ in range(3)]
    # leaving the block shuts the app down, which sends whatever is still queued
    assert [a["duplicate"] for a in answers] == [False, True, True]
    outbox = mailbox.Maildir(str(stripe_settings.outbox_dir), create=False)
    assert [m["To"] for m in outbox] == ["Bo <bo@example.org>"]
    [gift] = gifts(sessions)
    assert gift.amount_minor == 4200 and gift.receipt_sent_at is not None


class FlakySender(RecordingSender):
    """The mail relay refuses the first ``failures`` receipts, then accepts."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def send(self, receipt: Receipt) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("421 try again later")
        super().send(receipt)


def _claimed(
    sessions: sessionmaker[Session], settings: Settings, fake: FakeStripe, **kw: Any
) -> list[Receipt]:
    """A gift recorded with its receipt claimed, as the webhook endpoint leaves it."""
    processor = WebhookProcessor(
        sessions, secrets=[WEBHOOK_SECRET], livemode=False, receipts=RecordingSender()
    )
    _, event = completed(fake, start(sessions, settings, fake, **kw), email="cy@example.org")
    return processor.process(parse(event), receipts=False).receipts


def test_a_refused_receipt_is_retried_and_sent_once(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    receipts = _claimed(sessions, stripe_settings, fake_stripe, amount=1200)
    sender = FlakySender(failures=1)
    courier = ReceiptCourier(sessions, sender, retry_after=0.0)
    courier.put(receipts)
    courier.close()
    assert [r.amount for r in sender.sent] == ["£12"]
    assert gifts(sessions)[0].receipt_sent_at is not None


def test_a_receipt_still_refused_at_shutdown_stays_pending(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    receipts = _claimed(sessions, stripe_settings, fake_stripe, amount=900)
    sender = FlakySender(failures=10)
    courier = ReceiptCourier(sessions, sender, retry_after=3600.0)
    courier.put(receipts)
    courier.close()
    assert sender.sent == []
    assert gifts(sessions)[0].receipt_sent_at is None  # reconcile will send it
    assert gifts(sessions)[0].receipt_claimed_at is None  # released, not left claimed


def test_a_receipt_claimed_by_a_process_that_died_is_sent_after_the_lease(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    """The webhook committed the gift with its receipt claimed, then its process died
    before the courier mailed it: reconcile leaves it to a live claimant, then takes it
    over once the claim has lapsed, and sends it exactly once."""
    [receipt] = _claimed(sessions, stripe_settings, fake_stripe, amount=700)
    [gift] = gifts(sessions)
    assert gift.receipt_claimed_at is not None and gift.receipt_sent_at is None
    sender = RecordingSender()
    assert send_pending(sessions, sender) == 0  # maybe still being sent by a live process
    with transaction(sessions) as session:
        session.execute(
            update(Gift)
            .where(Gift.id == receipt.gift_id)
            .values(receipt_claimed_at=datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1))
        )
    assert send_pending(sessions, sender) == 1
    assert send_pending(sessions, sender) == 0
    assert [r.gift_id for r in sender.sent] == [receipt.gift_id]
    assert gifts(sessions)[0].receipt_sent_at is not None


def test_the_courier_marks_receipts_sent_only_after_mailing_them(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    receipts = _claimed(sessions, stripe_settings, fake_stripe, amount=500)
    marked_when_sending: list[object] = []

    class Watching(RecordingSender):
        def send(self, receipt: Receipt) -> None:
            marked_when_sending.append(gifts(sessions)[0].receipt_sent_at)
            super().send(receipt)

    courier = ReceiptCourier(sessions, Watching())
    courier.put(receipts)
    courier.close()
    assert marked_when_sending == [None]
    assert gifts(sessions)[0].receipt_sent_at is not None


def test_a_running_courier_marks_a_lone_receipt_sent_without_waiting_for_more(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    receipts = _claimed(sessions, stripe_settings, fake_stripe, amount=300)
    courier = ReceiptCourier(sessions, RecordingSender())
    courier.put(receipts)
    deadline = time.monotonic() + 10
    while gifts(sessions)[0].receipt_sent_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert gifts(sessions)[0].receipt_sent_at is not None  # marked before any shutdown
    finally:
        courier.close()


def _age_claim(sessions: sessionmaker[Session], gift_id: int, age: timedelta) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(Gift)
            .where(Gift.id == gift_id)
            .values(receipt_claimed_at=datetime.now(UTC) - age)
        )


def test_a_receipt_queued_past_its_lease_and_taken_over_is_not_sent_twice(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    """The courier fell a lease behind; reconcile took the receipt over and sent it;
    the courier's stale copy must then go nowhere."""
    [queued] = _claimed(sessions, stripe_settings, fake_stripe, amount=800)
    assert queued.claimed_at is not None
    _age_claim(sessions, queued.gift_id, CLAIM_LEASE + timedelta(minutes=1))
    reconcile, courier_sender = RecordingSender(), RecordingSender()
    assert send_pending(sessions, reconcile) == 1
    stale = replace(queued, claimed_at=queued.claimed_at - CLAIM_LEASE - timedelta(minutes=1))
    courier = ReceiptCourier(sessions, courier_sender)
    courier.put([stale])
    courier.close()
    assert len(reconcile.sent) == 1 and courier_sender.sent == []


def test_an_aged_claim_still_held_is_renewed_then_sent(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    [queued] = _claimed(sessions, stripe_settings, fake_stripe, amount=600)
    assert queued.claimed_at is not None
    older = queued.claimed_at - RECLAIM_AFTER
    with transaction(sessions) as session:
        session.execute(
            update(Gift).where(Gift.id == queued.gift_id).values(receipt_claimed_at=older)
        )
    sender = RecordingSender()
    courier = ReceiptCourier(sessions, sender)
    courier.put([replace(queued, claimed_at=older)])
    courier.close()
    assert [r.gift_id for r in sender.sent] == [queued.gift_id]
    [sent] = sender.sent
    assert sent.claimed_at is not None and sent.claimed_at > older  # sent under a renewed claim
    assert gifts(sessions)[0].receipt_sent_at is not None


def test_release_leaves_another_process_s_claim_alone(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    [mine] = _claimed(sessions, stripe_settings, fake_stripe, amount=400)
    theirs = datetime.now(UTC) + timedelta(seconds=5)
    with transaction(sessions) as session:
        session.execute(
            update(Gift).where(Gift.id == mine.gift_id).values(receipt_claimed_at=theirs)
        )
    release(sessions, mine)
    assert gifts(sessions)[0].receipt_claimed_at == theirs
    release(sessions, replace(mine, claimed_at=theirs))
    assert gifts(sessions)[0].receipt_claimed_at is None
