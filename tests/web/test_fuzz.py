"""Schemathesis throws generated requests at every operation of the app's schema: no 5xx.

The schema is the app's own (``app.openapi()``), which exists even when production
hides ``/openapi.json``. The pages read their forms themselves, so the schema knows
no form fields; the test adds each form's fields (and lets anything else through)
so the generated bodies reach the handlers, with a valid CSRF pair so they get past
the first check. Examples are derandomised and bounded: the run takes seconds.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from schemathesis.core.result import Ok

from newsletter import links, tokens
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.web import services
from newsletter.web.app import create_app
from newsletter.web.ratelimit import RateLimiter
from subscribers import consent, lists, people

FORMS: dict[str, dict[str, Any]] = {
    "/subscribe": {"email": "string", "name": "string", "topics": "array", "website": "string"},
    "/confirm/{token}": {},
    "/preferences/{token}": {"action": "string", "name": "string", "language": "string"},
    "/u/{token}": {"List-Unsubscribe": "string"},
    "/donate": {"amount": "string", "other_amount": "string", "frequency": "string"},
    "/donate/manage": {"email": "string"},
    "/donate/manage/{token}": {"action": "string"},
}


def _with_forms(schema: dict[str, Any], tokens: dict[str, str]) -> dict[str, Any]:
    """The app's schema plus each POST form's fields, as ``x-www-form-urlencoded``, and
    with ``tokens``, a valid token on those reader pages, so their handlers run in full."""
    for path, token in tokens.items():
        for operation in schema["paths"][path].values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "token":
                    parameter["schema"] = {"type": "string", "enum": [token]}
    for path, fields in FORMS.items():
        post = schema["paths"].get(path, {}).get("post")
        if post is None:
            continue
        properties: dict[str, Any] = {
            name: {"type": "array", "items": {"type": "string"}}
            if kind == "array"
            else {"type": "string"}
            for name, kind in fields.items()
        }
        body = {"type": "object", "properties": properties, "additionalProperties": True}
        post["requestBody"] = {"content": {"application/x-www-form-urlencoded": {"schema": body}}}
    return schema


@pytest.fixture
def fuzzed_app(settings: Settings, db_url: str) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    settings = settings.model_copy(
        update={
            "database_url": db_url,
            "stripe_secret_key": SecretStr("sk_test_fuzz"),
            "stripe_webhook_secret": SecretStr("whsec_fuzz"),
            "stripe_api_base": "http://127.0.0.1:9",  # nothing listens: Stripe is unreachable
            "stripe_timeout": 2.0,
        }
    )
    app = create_app(settings)
    with transaction(app.state.sessions) as s:
        lists.create(s, "Ukraine")
        sid = people.add(s, "fuzz@example.org", consent.Context(form="test"), topics=["Ukraine"]).id
    roomy = services.SubscribeLimits(  # the fuzzer is one client: give it room
        *(
            RateLimiter(app.state.sessions, name, 10_000, 3600, secret=settings.secret)
            for name in ("subscribe-ip", "subscribe-address")
        )
    )
    app.dependency_overrides[services.subscribe_limits] = lambda: roomy
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/subscribe")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match
        pair = {"cookie": client.cookies["nl_csrf"], "token": match.group(1)}
        pair |= {
            "/confirm/{token}": tokens.sign(settings.secret, links.CONFIRM, {"s": sid}),
            "/preferences/{token}": tokens.sign(settings.secret, links.PREFERENCES, {"s": sid}),
            "/u/{token}": tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": 1}),
        }
        yield app, pair
    app.state.engine.dispose()


def test_no_generated_request_makes_a_server_error(
    fuzzed_app: tuple[FastAPI, dict[str, str]],
) -> None:
    app, pair = fuzzed_app
    valid = {path: token for path, token in pair.items() if path.startswith("/")}
    operations = []
    for tokens_given in ({}, valid):  # random tokens everywhere, then valid ones
        raw = _with_forms(copy.deepcopy(app.openapi()), tokens_given)
        schema = schemathesis.openapi.from_dict(raw)
        schema.app = app
        results = list(schema.get_all_operations())
        found = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(found) == len(results), "the app's schema has an operation that cannot load"
        operations += [op for op in found if not tokens_given or op.path in tokens_given]
    assert len(operations) >= 20  # every page and form, GET and POST, then the token pages
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            if isinstance(case.body, dict):
                case.body["csrf_token"] = pair["token"]
            response = case.call(cookies={"nl_csrf": pair["cookie"]})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        fuzz()
    assert failures == []
