"""Reader pages through FastAPI's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from newsletter import links, tokens, wiring
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.mail.transports.memory import MemoryTransport
from newsletter.web import services
from newsletter.web.app import create_app
from newsletter.web.ratelimit import RateLimiter
from newsletter.web.services import PER_ADDRESS, PER_IP
from subscribers import consent, lists, people, suppression, topics
from subscribers.models import ConsentEvent, Status

BASE = "https://news.example.org"


@pytest.fixture
def site(settings: Settings, db_url: str) -> Iterator[tuple[TestClient, MemoryTransport, Settings]]:
    settings = settings.model_copy(update={"database_url": db_url})
    app = create_app(settings)
    outbox = MemoryTransport()
    app.dependency_overrides[services.outbox] = lambda: services.Outbox(
        lambda: outbox, lambda: wiring.signer(settings)
    )
    with transaction(app.state.sessions) as s:
        topics.create(s, "Ukraine")
        topics.create(s, "Nuclear weapons")
        lists.archive(s, topics.create(s, "Old topic").name)
    with TestClient(app, base_url="https://testserver", client=("198.51.100.4", 5000)) as client:
        yield client, outbox, settings
    app.state.engine.dispose()


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the form has no CSRF field"
    return match.group(1)


def _subscribe(client: TestClient, address: str, **extra: object) -> httpx2.Response:
    token = _csrf(client.get("/subscribe").text)
    form = {"csrf_token": token, "email": address, "name": "Ann", "topics": ["ukraine"], **extra}
    answer: httpx2.Response = client.post("/subscribe", data=form, follow_redirects=False)
    return answer


def _sessions(client: TestClient) -> sessionmaker[Session]:
    app = client.app
    assert isinstance(app, FastAPI)
    factory: sessionmaker[Session] = app.state.sessions
    return factory


def _text_part(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _path(url: str) -> str:
    assert url.startswith(BASE)
    return url[len(BASE) :]


def _person(client: TestClient, address: str) -> tuple[int, str, list[str]]:
    with transaction(_sessions(client)) as s:
        person = people.lookup(s, address)
        return person.id, person.status, [m.name for m in people.subscribed_lists(s, person)]


def test_subscribe_page_is_an_accessible_form(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, _, _ = site
    page = client.get("/subscribe")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    for field in ("email", "name"):
        assert f'<label for="{field}">' in page.text and f'id="{field}"' in page.text
    assert "Ukraine" in page.text and "Old topic" not in page.text
    assert "nl_csrf" in page.headers["set-cookie"]


def test_double_opt_in_from_form_to_confirmed(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, outbox, _ = site
    answer = (
        _subscribe(client, "Reader@Example.org", headers=None)
        if False
        else _subscribe(client, "Reader@Example.org")
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/subscribe/check-email"
    [sent] = outbox.to("Reader@example.org")
    body = _text_part(sent.message)
    url = re.search(rf"{BASE}/confirm/\S+", body)
    assert url is not None
    sid, status, topics = _person(client, "reader@example.org")
    assert (status, topics) == (Status.PENDING, ["All briefings", "Ukraine"])

    page = client.get(_path(url.group(0)))  # what a link scanner does: nothing changes
    assert page.status_code == 200 and "Yes, subscribe me" in page.text
    assert _person(client, "reader@example.org")[1] == Status.PENDING

    done = client.post(_path(url.group(0)), headers={"user-agent": "TestBrowser/1.0"})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert _person(client, "reader@example.org")[1] == Status.ACTIVE
    with transaction(_sessions(client)) as s:
        events = consent.history(s, sid)
    assert [e.action for e in events] == [consent.SUBSCRIBE, consent.CONFIRM]
    assert events[1].ip == "198.51.100.4" and events[1].user_agent == "TestBrowser/1.0"
    assert "Ukraine" in events[0].wording


def test_the_answer_never_tells_whether_an_address_is_known(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, outbox, _ = site
    with transaction(_sessions(client)) as s:
        people.add(s, "known@example.org", consent.Context(form="test"), name="Known")
    known = _subscribe(client, "known@example.org", name="Attacker", topics=[])
    unknown = _subscribe(client, "unknown@example.org")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    assert outbox.to("known@example.org") == [] and len(outbox.to("unknown@example.org")) == 1
    with transaction(_sessions(client)) as s:
        assert people.lookup(s, "known@example.org").name == "Known"


def test_subscribe_needs_the_csrf_field(site: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, outbox, _ = site
    client.get("/subscribe")
    answer = client.post("/subscribe", data={"email": "x@example.org", "csrf_token": "forged"})
    assert answer.status_code == 400 and "form has expired" in answer.text
    assert outbox.sent == []


def test_bad_addresses_get_the_form_back(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, outbox, _ = site
    answer = _subscribe(client, "not an address")
    assert answer.status_code == 400
    assert "valid email address" in answer.text and 'value="not an address"' in answer.text
    assert outbox.sent == []


def test_rate_limits_protect_strangers_inboxes(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, outbox, settings = site
    # Counts live in fixed windows: a run that straddles a window's end would see part of its
    # hits age out, so the limiters read a clock held in the middle of one window.
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    held = services.SubscribeLimits(
        *(
            RateLimiter(
                sessions, name, *limits, secret=settings.secret, clock=lambda: 1_800_001_800.0
            )
            for name, limits in (("subscribe-ip", PER_IP), ("subscribe-address", PER_ADDRESS))
        )
    )
    client.app.dependency_overrides[services.subscribe_limits] = lambda: held  # type: ignore[attr-defined]
    for _ in range(5):
        assert _subscribe(client, "victim@example.org").status_code == 303
    assert len(outbox.to("victim@example.org")) == 3
    answers = [_subscribe(client, f"p{i}@example.org").status_code for i in range(16)]
    assert answers[-1] == 429 and answers.count(303) == 15


def test_forged_expired_and_wrong_purpose_tokens_are_refused(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, _, settings = site
    with transaction(_sessions(client)) as s:
        sid = people.add(s, "t@example.org", consent.Context(form="test")).id
    good = tokens.sign(settings.secret, links.CONFIRM, {"s": sid})
    forged = tokens.sign(b"another-secret", links.CONFIRM, {"s": sid})
    old = tokens.sign(settings.secret, links.CONFIRM, {"s": sid}, now=1_000_000)
    preferences = tokens.sign(settings.secret, links.PREFERENCES, {"s": sid})
    unsubscribe = tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": None})
    assert client.get(f"/confirm/{good}").status_code == 200
    for path in (
        f"/confirm/{forged}",
        f"/confirm/{old}",
        f"/confirm/{preferences}",
        f"/u/{preferences}",
        f"/preferences/{unsubscribe}",
        f"/u/{good}",
        f"/u/{good[:-3]}",
        "/u/garbage",
    ):
        assert client.get(path).status_code == 400, path
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 400, path
    assert "expired" in client.post(f"/confirm/{old}").text
    assert _person(client, "t@example.org")[1] == Status.ACTIVE


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_per_rfc_8058(
    site: tuple[TestClient, MemoryTransport, Settings], encoding: str
) -> None:
    client, _, settings = site
    with transaction(_sessions(client)) as s:
        sid = people.add(s, "leaver@example.org", consent.Context(form="test")).id
    url = links.recipient_links(
        settings, subscriber_id=sid, campaign_id=7, briefing_slug="b"
    ).unsubscribe
    assert client.get(_path(url)).status_code == 200  # the page only shows a button
    assert _person(client, "leaver@example.org")[1] == Status.ACTIVE
    client.cookies.clear()
    if encoding == "urlencoded":
        answer = client.post(
            _path(url), data={"List-Unsubscribe": "One-Click"}, follow_redirects=False
        )
    else:
        answer = client.post(
            _path(url), files={"List-Unsubscribe": (None, "One-Click")}, follow_redirects=False
        )
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert _person(client, "leaver@example.org")[1] == Status.UNSUBSCRIBED
    with transaction(_sessions(client)) as s:
        entry = suppression.find(s, "leaver@example.org")
        assert entry is not None and entry.reason == suppression.UNSUBSCRIBED
        event = s.scalars(
            select(ConsentEvent).where(ConsentEvent.action == consent.UNSUBSCRIBE)
        ).one()
        assert event.form == "one-click" and "campaign 7" in event.wording
    again = client.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200


def test_one_click_for_an_erased_person_still_answers_200(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, _, settings = site
    with transaction(_sessions(client)) as s:
        sid = people.add(s, "gone@example.org", consent.Context(form="test")).id
        people.erase(s, "gone@example.org", consent.Context(form="test"))
    token = tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": 1})
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_preference_centre(site: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, settings = site
    with transaction(_sessions(client)) as s:
        sid = people.add(s, "pref@example.org", consent.Context(form="test"), topics=["Ukraine"]).id
    path = _path(
        links.recipient_links(
            settings, subscriber_id=sid, campaign_id=None, briefing_slug="b"
        ).preferences
    )
    page = client.get(path)
    assert page.status_code == 200 and 'value="ukraine" checked' in page.text
    assert 'id="language"' not in page.text  # one language (the default): no menu
    form = {
        "csrf_token": _csrf(page.text),
        "action": "save",
        "name": "Pref Erence",
        "language": "fr",
        "topics": ["nuclear-weapons"],
    }
    saved = client.post(path, data=form)
    assert saved.status_code == 200 and "preferences are saved" in saved.text
    assert _person(client, "pref@example.org")[2] == ["Nuclear weapons"]
    with transaction(_sessions(client)) as s:
        person = people.get(s, sid)
        assert (person.name, person.language) == ("Pref Erence", "en")  # not offered
    assert client.post(path, data={**form, "csrf_token": "nope"}).status_code == 400
    leave = client.post(path, data={"csrf_token": _csrf(saved.text), "action": "unsubscribe"})
    assert leave.status_code == 200 and "You are unsubscribed" in leave.text
    assert _person(client, "pref@example.org")[1] == Status.UNSUBSCRIBED
    assert "You are unsubscribed and receive no briefings" in client.get(path).text


def test_a_full_connection_pool_answers_503_at_once_and_recovers(
    settings: Settings, db_url: str
) -> None:
    """Every connection taken (a burst of slow requests): a request gets 503 with
    Retry-After after the short pool wait, not a 500 after half a minute."""
    settings = settings.model_copy(
        update={"database_url": db_url, "database_pool_size": 1, "database_pool_timeout": 0.2}
    )
    app = create_app(settings)
    engine = app.state.engine
    with transaction(app.state.sessions) as s:
        sid = people.add(s, "busy@example.org", consent.Context(form="test")).id
    token = tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": 1})
    held = []
    try:
        with TestClient(app) as client:
            while True:  # take every connection the pool will give
                try:
                    held.append(engine.connect())
                except PoolTimeout:
                    break
            busy = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "5" and "try again" in busy.text
            for conn in held:
                conn.close()
            held.clear()
            done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200
    finally:
        for conn in held:
            conn.close()
        engine.dispose()
    with transaction(app.state.sessions) as s:
        assert people.lookup(s, "busy@example.org").status == Status.UNSUBSCRIBED
