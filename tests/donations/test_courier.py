"""Receipts sent after the webhook has answered: once each, retried when the mail fails."""

from __future__ import annotations

import mailbox
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.courier import ReceiptCourier
from newsletter.donations.events import parse
from newsletter.donations.receipts import Receipt
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
