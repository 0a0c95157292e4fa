"""Disputes count only while Stripe withholds the money, whatever order the events come in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.events import HANDLED_TYPES
from newsletter.donations.states import GiftStatus
from newsletter.donations.webhook import WebhookProcessor
from tests.donations.conftest import deliver
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import completed, gifts, start

AMOUNT = 4000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "donations.md"


def _steps(fake: FakeStripe, charge: dict[str, Any], *steps: tuple[str, str]) -> list[Any]:
    """Events of one dispute of ``charge``: (event type suffix, dispute status) each."""
    dispute = fake.dispute(charge)
    return [
        fake.event(f"charge.dispute.{kind}", dict(dispute, status=status)) for kind, status in steps
    ]


CASES = {
    "inquiry": ([("created", "warning_needs_response")], AMOUNT),
    "inquiry closed": (
        [("created", "warning_needs_response"), ("closed", "warning_closed")],
        AMOUNT,
    ),
    "inquiry escalated": (
        [("created", "warning_needs_response"), ("funds_withdrawn", "needs_response")],
        0,
    ),
    "chargeback open": ([("created", "needs_response"), ("updated", "under_review")], 0),
    "chargeback won": (
        [
            ("created", "needs_response"),
            ("funds_reinstated", "won"),
            ("closed", "won"),
        ],
        AMOUNT,
    ),
    "chargeback lost": ([("created", "needs_response"), ("closed", "lost")], 0),
}


@pytest.mark.parametrize("reverse", [False, True], ids=["in order", "reversed"])
@pytest.mark.parametrize("case", CASES)
def test_net_amount_follows_the_dispute(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    case: str,
    reverse: bool,
) -> None:
    steps, net = CASES[case]
    sid = start(sessions, stripe_settings, fake_stripe, amount=AMOUNT)
    session, paid = completed(fake_stripe, sid)
    deliver(processor, paid)
    charge = fake_stripe.charge(session["payment_intent"], AMOUNT)
    events = _steps(fake_stripe, charge, *steps)
    for event in reversed(events) if reverse else events:
        deliver(processor, event)
    [gift] = gifts(sessions)
    assert gift.net_minor == net
    assert gift.status == (GiftStatus.PAID if net else GiftStatus.DISPUTED)


def test_a_won_dispute_reported_before_the_payment_leaves_the_gift_whole(
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=AMOUNT)
    session = fake_stripe.pay(sid)
    charge = fake_stripe.charge(session["payment_intent"], AMOUNT)
    for event in _steps(fake_stripe, charge, ("created", "needs_response"), ("closed", "won")):
        deliver(processor, event)
    deliver(processor, fake_stripe.event("checkout.session.completed", session))
    [gift] = gifts(sessions)
    assert (gift.status, gift.net_minor) == (GiftStatus.PAID, AMOUNT)


def test_the_docs_list_every_event_the_endpoint_needs() -> None:
    listed = set(re.findall(r"^  - `([a-z_.]+)`", DOCS.read_text(), re.MULTILINE))
    assert listed == set(HANDLED_TYPES)
