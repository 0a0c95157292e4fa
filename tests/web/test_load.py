"""A short load run on loopback: subscribe, one-click and webhook at once, never a 5xx.

Real uvicorn, real database (SQLite and PostgreSQL), 16 clients at a time and a fixed
number of requests, so the run is bounded by count, never by time. A second round of
the same size (180 requests) must not grow the process by more than 32 MB: a leak of
200 KB or more per request would show.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from newsletter import links, tokens
from newsletter.config import Settings
from newsletter.database import make_engine, session_factory, transaction
from newsletter.web import services
from newsletter.web.app import create_app
from newsletter.web.ratelimit import RateLimiter
from subscribers import consent, lists, people
from subscribers.models import Status, Subscriber
from tests.donations.fake_stripe import sign
from tests.local import free_port, serving

CLIENTS = 16
PER_KIND = 60  # requests of each kind per round
WEBHOOK_SECRET = "whsec_load_0123456789abcdef"
GROWTH_LIMIT_KB = 32 * 1024  # measured: 1-3 MB a round


@pytest.fixture
def site(settings: Settings, db_url: str) -> Iterator[tuple[str, Settings, list[int]]]:
    port = free_port()
    settings = settings.model_copy(
        update={
            "database_url": db_url,
            "public_base_url": f"http://127.0.0.1:{port}",
            "stripe_secret_key": SecretStr("sk_test_load"),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "database_pool_size": CLIENTS,
            "database_pool_timeout": 120.0,
        }
    )
    app = create_app(settings)
    with transaction(app.state.sessions) as s:
        lists.create(s, "Ukraine")
        readers = [
            people.add(s, f"reader{i}@example.org", consent.Context(form="test")).id
            for i in range(2 * PER_KIND)
        ]
    roomy = services.SubscribeLimits(  # one client address sends everything here
        *(
            RateLimiter(app.state.sessions, name, 100_000, 3600, secret=settings.secret)
            for name in ("subscribe-ip", "subscribe-address")
        )
    )
    app.dependency_overrides[services.subscribe_limits] = lambda: roomy
    with serving(app, port):
        yield f"http://127.0.0.1:{port}", settings, readers
    app.state.engine.dispose()


def _event(n: int) -> tuple[bytes, str]:
    body = json.dumps(
        {
            "id": f"evt_load_{n}",
            "object": "event",
            "type": "customer.created",
            "created": 1_764_000_000,
            "livemode": False,
            "api_version": "2025-03-31.basil",
            "data": {"object": {"id": f"cus_{n}", "object": "customer"}},
        }
    )
    return body.encode(), sign(body, WEBHOOK_SECRET)


async def _round(base: str, settings: Settings, readers: list[int], offset: int) -> Counter[int]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        page = await client.get("/subscribe")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match
        csrf = match.group(1)
        gate = asyncio.Semaphore(CLIENTS)

        async def send(kind: str, n: int) -> int:
            async with gate:
                if kind == "subscribe":
                    form = {"csrf_token": csrf, "email": f"new{offset + n}@example.org"}
                    answer = await client.post("/subscribe", data=form)
                elif kind == "one-click":
                    sid = readers[offset + n]
                    token = tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": 1})
                    answer = await client.post(
                        f"/u/{token}", data={"List-Unsubscribe": "One-Click"}
                    )
                else:
                    body, signature = _event(offset + n)
                    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
                    answer = await client.post("/stripe/webhook", content=body, headers=headers)
                return answer.status_code

        jobs = [send(k, n) for n in range(PER_KIND) for k in ("subscribe", "one-click", "webhook")]
        return Counter(await asyncio.gather(*jobs))


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_a_burst_of_subscribes_one_clicks_and_webhooks_gets_no_server_error(
    site: tuple[str, Settings, list[int]],
) -> None:
    base, settings, readers = site
    first = asyncio.run(_round(base, settings, readers, 0))
    before = _rss_kb()
    second = asyncio.run(_round(base, settings, readers, PER_KIND))
    growth = _rss_kb() - before
    for codes in (first, second):
        assert sum(codes.values()) == 3 * PER_KIND
        assert not [code for code in codes if code >= 500], codes
        assert set(codes) <= {200, 303}, codes  # 303: on to the check-email page
    assert growth < GROWTH_LIMIT_KB, f"the process grew by {growth} KB in one round"
    engine = make_engine(settings.database_url)
    with transaction(session_factory(engine)) as s:
        left = s.scalar(select(func.count()).where(Subscriber.status == Status.UNSUBSCRIBED))
    engine.dispose()
    assert left == 2 * PER_KIND  # every one-click stored
