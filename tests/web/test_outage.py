"""A database restart costs no request once the server is back, and a request that
meets the outage is told to come back (503 with Retry-After), never a 500.

The database is a private PostgreSQL cluster the test stops and starts; the
machine's shared server is never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from newsletter.config import Settings
from newsletter.web.app import create_app
from newsletter.web.page_cache import PageCache
from tests.donations.conftest import WEBHOOK_SECRET, signed
from tests.pgcluster import Cluster, private_cluster

# A page that reads the database on every view (the subscribe form keeps its topics
# and the home page its listing in memory for a second or more, so they would not
# notice an outage at once).
PAGE = "/feed.xml"

EVENT = {
    "id": "evt_outage_1",
    "object": "event",
    "type": "customer.created",
    "livemode": False,
    "created": 1764720000,
    "api_version": "2025-03-31.basil",
    "data": {"object": {"id": "cus_1", "object": "customer"}},
}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as running:
        yield running


def test_a_restart_costs_no_request_and_an_outage_answers_503(
    cluster: Cluster, settings: Settings
) -> None:
    url = cluster.create_database(f"web_{uuid.uuid4().hex[:8]}")
    app = create_app(settings.model_copy(update={"database_url": url}))
    app.state.page_cache = PageCache(fresh_for=0)  # the home page asks every time
    with TestClient(app) as client:
        assert client.get(PAGE).status_code == 200  # a pooled connection now
        assert client.get("/").status_code == 200

        cluster.restart()  # the pooled connection is dead; the next request reconnects
        assert client.get(PAGE).status_code == 200

        cluster.stop()
        down = client.get(PAGE)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0
        assert "try again in a few seconds" in down.text
        assert client.get("/").status_code == 503

        cluster.start()
        assert client.get(PAGE).status_code == 200


def test_stripe_is_told_to_retry_an_event_that_meets_an_outage(
    cluster: Cluster, settings: Settings
) -> None:
    url = cluster.create_database(f"web_{uuid.uuid4().hex[:8]}")
    configured = {"database_url": url, "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET)}
    body, signature = signed(EVENT)
    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
    with TestClient(create_app(settings.model_copy(update=configured))) as client:
        cluster.stop()
        down = client.post("/stripe/webhook", content=body, headers=headers)
        assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
        cluster.start()
        assert client.post("/stripe/webhook", content=body, headers=headers).status_code == 200
