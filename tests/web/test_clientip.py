"""Rate limits count IPv6 networks, and forwarded headers are believed from trusted proxies only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.mail.transports.memory import MemoryTransport
from newsletter.web import services
from newsletter.web.app import create_app
from newsletter.web.clientip import forwarded_client, parse_networks, rate_key
from newsletter.web.ratelimit import RateLimiter
from subscribers.models import ConsentEvent

NOW = 1_800_001_800.0  # a clock held mid-window, so no hit ages out during the test


def _subscribe(client: TestClient, address: str, **headers: str) -> int:
    page = client.get("/subscribe", headers=headers).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    form = {"csrf_token": match.group(1), "email": address, "name": "Ann"}
    answer = client.post("/subscribe", data=form, headers=headers, follow_redirects=False)
    return answer.status_code


def _app(settings: Settings, db_url: str, **update: object) -> TestClient:
    app = create_app(settings.model_copy(update={"database_url": db_url, **update}))
    app.dependency_overrides[services.outbox] = lambda: services.Outbox(
        MemoryTransport, lambda: None
    )
    return TestClient(app, base_url="https://testserver")


def test_every_address_of_one_ipv6_64_shares_one_budget(settings: Settings, db_url: str) -> None:
    first = _app(settings, db_url)
    app = first.app
    sessions = app.state.sessions  # type: ignore[attr-defined]
    limiter = RateLimiter(
        sessions, "subscribe-ip", 2, 3600, secret=settings.secret, clock=lambda: NOW
    )
    spare = RateLimiter(sessions, "subscribe-address", 9, 3600, secret=settings.secret)
    held = services.SubscribeLimits(limiter, spare)
    app.dependency_overrides[services.subscribe_limits] = lambda: held  # type: ignore[attr-defined]

    def from_(ip: str) -> TestClient:
        return TestClient(app, base_url="https://testserver", client=(ip, 5000))

    assert _subscribe(from_("2001:db8:1:2::a"), "a@example.org") == 303
    assert _subscribe(from_("2001:db8:1:2:ffff:ffff:ffff:1"), "b@example.org") == 303
    assert _subscribe(from_("2001:db8:1:2::c"), "c@example.org") == 429
    assert _subscribe(from_("2001:db8:1:3::a"), "d@example.org") == 303  # the next /64
    assert _subscribe(from_("198.51.100.7"), "e@example.org") == 303
    app.state.engine.dispose()  # type: ignore[attr-defined]


def _consent_ips(client: TestClient) -> list[str]:
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(ConsentEvent.ip).order_by(ConsentEvent.id)))


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    settings: Settings, db_url: str
) -> None:
    spoof = {"x-forwarded-for": "203.0.113.9"}
    open_ = _app(settings, db_url)
    local = TestClient(open_.app, base_url="https://testserver", client=("127.0.0.1", 5000))
    assert _subscribe(local, "a@example.org", **spoof) == 303
    assert _consent_ips(local) == ["127.0.0.1"]
    open_.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_a_trusted_proxy_names_the_client_and_the_scheme(settings: Settings, db_url: str) -> None:
    behind = _app(
        settings, db_url, trusted_proxies="127.0.0.1, ::1", public_base_url="http://127.0.0.1:8000"
    )
    proxy = TestClient(behind.app, base_url="http://testserver", client=("127.0.0.1", 5000))
    forwarded = {"x-forwarded-for": "192.0.2.66, 203.0.113.9"}
    assert _subscribe(proxy, "a@example.org", **forwarded) == 303
    assert _consent_ips(proxy) == ["203.0.113.9"]  # the left-most entry is the client's own claim
    assert "secure" not in proxy.get("/subscribe").headers["set-cookie"].lower()
    page = proxy.get("/subscribe", headers={"x-forwarded-proto": "https"})
    assert re.search(r";\s*Secure", page.headers["set-cookie"])
    stranger = TestClient(behind.app, base_url="http://testserver", client=("192.0.2.1", 1))
    page = stranger.get("/subscribe", headers={"x-forwarded-proto": "https"})
    assert "secure" not in page.headers["set-cookie"].lower()
    behind.app.state.engine.dispose()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "203.0.113.9, 10.0.0.7", "203.0.113.9"),  # two trusted hops
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "not-an-ip, 203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "203.0.113.9, garbage", "10.0.0.2"),
        ("198.51.100.1", "203.0.113.9", "198.51.100.1"),  # not a trusted proxy
        ("::ffff:10.0.0.2", "[2001:db8::5]", "2001:db8::5"),
    ],
)
def test_forwarded_client(peer: str, header: str, client: str) -> None:
    assert forwarded_client(peer, header, parse_networks("10.0.0.0/8")) == client


def test_rate_keys() -> None:
    assert rate_key("2001:db8:1:2::1") == rate_key("2001:db8:1:2:abcd::9") == "2001:db8:1:2::/64"
    assert rate_key("198.51.100.7") == "198.51.100.7"
    assert rate_key("::ffff:198.51.100.7") == "198.51.100.7"


def test_a_bad_trusted_proxy_setting_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300' is not an IP address or network")):
        Settings(_env_file=None, trusted_proxies="127.0.0.1, 10.0.0.300")
