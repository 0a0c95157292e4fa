"""Building blocks for donation tests: a real intent + Checkout Session, and Stripe events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations import intents
from newsletter.donations.gateway import StripeGateway
from newsletter.donations.models import Gift, StripeEventRecord
from newsletter.donations.states import Frequency
from tests.donations.fake_stripe import FakeStripe


def start(
    sessions: sessionmaker[Session],
    settings: Settings,
    fake: FakeStripe,
    *,
    amount: int = 2500,
    frequency: Frequency = Frequency.ONCE,
    campaign_id: int | None = None,
    subscriber_id: int | None = None,
) -> str:
    """What POST /donate does: record an intent and open its session; returns the session id."""
    gateway = StripeGateway(
        settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else "",
        api_base=fake.url,
        retries=0,
    )
    form = intents.DonationForm(amount_minor=amount, frequency=frequency)
    who = intents.Attribution(campaign_id=campaign_id, subscriber_id=subscriber_id)
    return intents.start_checkout(sessions, settings, gateway, form, who).id


def completed(
    fake: FakeStripe, session_id: str, **kw: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The donor pays: returns (the session, its checkout.session.completed event)."""
    session = fake.pay(session_id, **kw)
    return session, fake.event("checkout.session.completed", session)


def gifts(sessions: sessionmaker[Session]) -> list[Gift]:
    with sessions() as session:
        return list(session.scalars(select(Gift).order_by(Gift.id)))


def event_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count(StripeEventRecord.id))) or 0)
