"""Every answer carries the security headers; token pages are neither cached nor referred."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from newsletter import links, tokens
from newsletter.config import TEMPLATES, Settings
from newsletter.database import transaction
from newsletter.web.app import create_app
from newsletter.web.headers import own_location
from subscribers import consent, people


@pytest.fixture
def app_settings(settings: Settings, db_url: str) -> Settings:
    return settings.model_copy(update={"database_url": db_url})


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings), base_url="http://testserver") as c:
        yield c


def _reader(client: TestClient) -> int:
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        return people.add(s, "reader@example.org", consent.Context(form="test"), name="Ann").id


def _directives(policy: str) -> dict[str, str]:
    return {d.split()[0]: d.partition(" ")[2] for d in policy.split("; ")}


def test_every_page_forbids_inline_script_and_framing(client: TestClient) -> None:
    for path in ("/", "/subscribe", "/donate", "/archive/nothing-here"):
        answer = client.get(path)
        policy = _directives(answer.headers["content-security-policy"])
        assert policy["script-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_token_pages_are_never_cached_nor_referred(
    client: TestClient, app_settings: Settings
) -> None:
    sid = _reader(client)
    pages = [
        links.preferences_url(app_settings, sid),
        f"/u/{tokens.sign(app_settings.secret, links.UNSUBSCRIBE, {'s': sid, 'c': 1})}",
        links.confirm_url(app_settings, sid),
    ]
    for url in pages:
        answer = client.get(url.removeprefix(app_settings.public_base_url))
        assert answer.status_code == 200, url
        assert "reader@example.org" in answer.text
        assert answer.headers["cache-control"] == "no-store", url
        assert answer.headers["referrer-policy"] == "no-referrer", url
    done = client.post(pages[1].removeprefix(app_settings.public_base_url))
    assert done.headers["cache-control"] == "no-store"
    reader = tokens.sign(app_settings.secret, links.DONATE, {"s": sid})
    donate = client.get(f"/donate?c=1&t={reader}")
    assert donate.headers["referrer-policy"] == "no-referrer"
    assert donate.headers["cache-control"] == "no-store"


def test_the_form_cookie_is_secure_when_the_public_address_is_https(client: TestClient) -> None:
    answer = client.get("/subscribe")  # plain http behind a TLS proxy
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("nl_csrf=") and re.search(r";\s*Secure", cookie)
    assert answer.headers["cache-control"] == "no-store"


def test_on_plain_http_loopback_nothing_demands_https(app_settings: Settings) -> None:
    local = app_settings.model_copy(update={"public_base_url": "http://127.0.0.1:8000"})
    with TestClient(create_app(local), base_url="http://testserver") as plain:
        answer = plain.get("/subscribe")
        assert "strict-transport-security" not in answer.headers
        assert "secure" not in answer.headers["set-cookie"].lower()
    with TestClient(create_app(local), base_url="https://testserver") as tls:
        assert re.search(r";\s*Secure", tls.get("/subscribe").headers["set-cookie"])


def test_the_schema_is_hidden_unless_debugging(app_settings: Settings) -> None:
    with TestClient(create_app(app_settings)) as hidden:
        assert hidden.get("/openapi.json").status_code == 404
    debugging = app_settings.model_copy(update={"debug": True})
    with TestClient(create_app(debugging)) as shown:
        assert shown.get("/openapi.json").json()["paths"]


def test_no_page_template_carries_inline_script() -> None:
    for template in (TEMPLATES / "web").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text, re.IGNORECASE), template.name
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), template.name


@pytest.mark.parametrize("path", ["/archive/112-paper/", "/subscribe/", "/donate/"])
def test_a_redirect_never_takes_its_host_from_the_request(
    client: TestClient, app_settings: Settings, path: str
) -> None:
    answer = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert answer.status_code in (301, 302, 303, 307, 308)
    location = answer.headers["location"]
    assert location == f"{app_settings.public_base_url}{path.rstrip('/')}"


def test_own_location_keeps_real_targets() -> None:
    base = "https://example.org/news"
    checkout = "https://checkout.stripe.com/c/pay/cs_1"
    assert own_location(checkout, "evil.example", base) == checkout
    assert own_location("/subscribe/check-email", "evil.example", base) == "/subscribe/check-email"
    assert own_location("https://example.org/news/x", "example.org", base) == (
        "https://example.org/news/x"
    )
    assert own_location("http://evil.example//other.example/", "evil.example", base) == (
        "https://example.org/news/other.example/"
    )
