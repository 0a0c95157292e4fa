"""Stripe's deliveries answered in front of FastAPI (``FastWebhook``) get exactly the
answers the route gives: the same statuses, bodies and headers (security headers,
413, 400 with the body kept for review, 503 without a secret)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.config import Settings
from newsletter.web.app import PublicApp, create_app
from newsletter.web.limits import WEBHOOK_LIMIT
from tests.donations.conftest import WEBHOOK_SECRET, db_sessions, signed
from tests.donations.fake_stripe import FakeStripe, sign
from tests.donations.helpers import completed, gifts, start

Answer = tuple[int, list[tuple[str, str]], bytes]


@pytest.fixture
def app(stripe_settings: Settings, tmp_path: Path) -> Iterator[PublicApp]:
    made = create_app(stripe_settings.model_copy(update={"webhook_review_dir": tmp_path}))
    assert isinstance(made, PublicApp)
    yield made
    made.state.engine.dispose()


def _deep() -> bytes:
    return ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()


def _answers(
    client: TestClient, app: PublicApp, fast: bool, event: dict[str, Any]
) -> tuple[list[Answer], int]:
    """Every case, through the fast path or (``fast`` False) the route; and how many
    of them the fast path claimed."""
    hooks = app.fast_webhook
    assert hooks is not None
    claimed: list[bool] = []
    claim = type(hooks).claim

    def counted(scope: Any) -> bool:
        found = fast and claim(hooks, scope)
        claimed.append(found)
        return found

    hooks.claim = counted  # type: ignore[method-assign]
    body, header = signed(event)
    deep = _deep().decode()

    def chunks() -> Iterator[bytes]:
        yield b"x" * WEBHOOK_LIMIT
        yield b"x"

    requests: list[dict[str, Any]] = [
        {"content": body, "headers": {"Stripe-Signature": header}},  # a new gift
        {"content": body, "headers": {"Stripe-Signature": header}},  # its duplicate
        {"content": body + b" ", "headers": {"Stripe-Signature": header}},  # tampered
        {"content": body},  # unsigned
        {"content": deep, "headers": {"Stripe-Signature": sign(deep, WEBHOOK_SECRET)}},
        {"content": b"x" * (WEBHOOK_LIMIT + 1)},  # declared too large
        {"content": chunks()},  # streamed past the limit
    ]
    got = []
    for request in requests:
        answer = client.post("/stripe/webhook", **request)
        got.append((answer.status_code, answer.headers.multi_items(), answer.content))
    return got, sum(claimed)


def test_fast_answers_are_the_routes(
    app: PublicApp, stripe_settings: Settings, fake_stripe: FakeStripe, tmp_path: Path
) -> None:
    with TestClient(app, base_url="https://news.example.org") as client:
        sessions = db_sessions(client)
        first, second = (
            completed(fake_stripe, start(sessions, stripe_settings, fake_stripe))[1]
            for _ in range(2)
        )
        fast, claimed = _answers(client, app, True, first)
        slow, unclaimed = _answers(client, app, False, second)
        assert (claimed, unclaimed) == (len(fast), 0)
        assert fast == slow
        statuses = [status for status, _, _ in fast]
        assert statuses == [200, 200, 400, 400, 400, 413, 413]
        assert [json.loads(fast[n][2])["duplicate"] for n in (0, 1)] == [False, True]
        assert any(name == "x-content-type-options" for name, _ in fast[0][1])
        assert len(gifts(sessions)) == 2
        assert len(list(tmp_path.glob("*.json"))) == 1  # the deep body, named by its content


def test_without_a_secret_both_answer_503(settings: Settings, db_url: str) -> None:
    app = create_app(settings.model_copy(update={"database_url": db_url}))
    assert isinstance(app, PublicApp) and app.fast_webhook is not None
    with TestClient(app) as client:
        fast = client.post("/stripe/webhook", content=b"{}")
        app.fast_webhook = None
        slow = client.post("/stripe/webhook", content=b"{}")
    assert fast.status_code == slow.status_code == 503
    assert (fast.headers.multi_items(), fast.content) == (slow.headers.multi_items(), slow.content)
    app.state.engine.dispose()
