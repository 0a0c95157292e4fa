"""Fixtures for the donation tests: the fake Stripe server, settings pointing at it, the app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.gateway import StripeGateway
from newsletter.donations.receipts.content import Receipt
from newsletter.donations.webhook import WebhookProcessor
from newsletter.web.app import create_app
from tests.donations.fake_stripe import FakeStripe, sign
from tests.local import free_port, serving

WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
SECRET_KEY = "sk_test_51FakeKeyForTheLocalFakeStripeServer"


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def stripe_settings(settings: Settings, fake_stripe: FakeStripe, db_url: str) -> Settings:
    return settings.model_copy(
        update={
            "database_url": db_url,
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake_stripe.url,
        }
    )


@pytest.fixture
def served(settings: Settings, fake_stripe: FakeStripe) -> Iterator[Settings]:
    """The web app under a real uvicorn on a free port, talking to the fake Stripe;
    settings whose base URL points at it. One database is enough here (the SQLite file
    of ``settings``): the database cases run on both backends in the other tests."""
    port = free_port()
    settings = settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{port}",
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake_stripe.url,
        }
    )
    with serving(create_app(settings), port):
        yield settings


@pytest.fixture
def client(stripe_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(stripe_settings), base_url="https://news.example.org") as c:
        yield c


class RecordingSender:
    """A receipt sender that keeps what it was asked to send (the mail edge, not our code)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Receipt] = []
        self.fail = fail

    def send(self, receipt: Receipt) -> None:
        if self.fail:
            raise OSError("mail relay down")
        self.sent.append(receipt)


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET, **kw: Any) -> tuple[bytes, str]:
    body = json.dumps(event)
    return body.encode(), sign(body, secret, **kw)


def post_event(client: TestClient, event: dict[str, Any]) -> Any:
    body, header = signed(event)
    return client.post(
        "/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def processor(
    sessions: sessionmaker[Session], sender: RecordingSender, fake_stripe: FakeStripe
) -> WebhookProcessor:
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    return WebhookProcessor(
        sessions,
        secrets=[WEBHOOK_SECRET],
        livemode=False,
        receipts=sender,
        invoice_paid_by=gateway.invoice_paid_by,
    )


def deliver(processor: WebhookProcessor, event: dict[str, Any]) -> Any:
    """One signed delivery straight to the processor, as the endpoint makes it."""
    body, header = signed(event)
    return processor.handle(body, header)


def db_sessions(client: TestClient) -> sessionmaker[Session]:
    found: sessionmaker[Session] = client.app.state.sessions  # type: ignore[attr-defined]
    return found
