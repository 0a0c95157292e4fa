"""Bodies over a route's limit answer 413; signed but absurd Stripe events answer 400, kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.donations.models import StripeEventRecord
from newsletter.web.app import create_app
from newsletter.web.limits import FORM_LIMIT, WEBHOOK_LIMIT
from tests.donations.fake_stripe import sign

WEBHOOK_SECRET = "whsec_limits_0123456789abcdef"


@pytest.fixture
def review(tmp_path: Path) -> Path:
    return tmp_path / "review"


@pytest.fixture
def client(settings: Settings, db_url: str, review: Path) -> Iterator[TestClient]:
    settings = settings.model_copy(
        update={
            "database_url": db_url,
            "stripe_secret_key": SecretStr("sk_test_limits"),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "webhook_review_dir": review,
        }
    )
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as c:
        yield c
    app.state.engine.dispose()


def _post_signed(client: TestClient, body: str) -> Any:
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"}
    return client.post("/stripe/webhook", content=body.encode(), headers=headers)


def _stored_events(client: TestClient) -> int:
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        return int(s.scalar(select(func.count()).select_from(StripeEventRecord)) or 0)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": "evt_limits_1",
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1_764_000_000,
        "livemode": False,
        "api_version": "2025-03-31.basil",
        "data": {"object": {"id": "cs_test_1", "object": "checkout.session"}},
    }
    event.update(changes)
    return event


def test_a_form_body_over_64_kb_is_refused(client: TestClient) -> None:
    big = {"email": "a@example.org", "name": "x" * FORM_LIMIT}
    assert client.post("/subscribe", data=big).status_code == 413
    assert client.post("/u/whatever", content=b"x" * (FORM_LIMIT + 1)).status_code == 413


def test_a_streamed_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"name=" + b"x" * 4096

    answer = client.post(
        "/subscribe",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413


def test_the_webhook_takes_up_to_1_mb(client: TestClient) -> None:
    assert client.post("/stripe/webhook", content=b"x" * (WEBHOOK_LIMIT + 1)).status_code == 413
    padded = json.dumps(_event(padding="x" * (WEBHOOK_LIMIT - 4096)))
    assert _post_signed(client, padded).status_code != 413


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
        (json.dumps(_event(data={"object": {"x": _nested(40)}})), "nested more than"),
        (json.dumps(_event(created=1e30)), "created is not a plausible Unix time"),
        (json.dumps(_event(created=2**62)), "created is not a plausible Unix time"),
    ],
    ids=["deep", "deepish", "created-1e30", "created-2-62"],
)
def test_signed_but_absurd_events_answer_400_and_are_kept_for_review(
    client: TestClient, review: Path, body: str, why: str
) -> None:
    answer = _post_signed(client, body)
    assert answer.status_code == 400 and why in answer.json()["error"]
    [kept] = review.glob("*.json")
    record = json.loads(kept.read_text(encoding="utf-8"))
    assert why in record["reason"] and record["body"] == body
    assert _stored_events(client) == 0


def test_unsigned_junk_is_refused_and_not_kept(client: TestClient, review: Path) -> None:
    body = '{"a":' * 100_000 + "1" + "}" * 100_000
    answer = client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": "t=1,v1=0"})
    assert answer.status_code == 400
    assert not review.exists()
