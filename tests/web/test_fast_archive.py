"""The home page and published pages answered from memory before FastAPI answer exactly
what the routes answer, and ask the database nothing while the archive is fresh."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from itertools import pairwise
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Scope

from newsletter import database
from newsletter.briefing import markdown
from newsletter.campaigns import archive
from newsletter.config import Settings
from newsletter.digest import render_digest
from newsletter.web.app import create_app
from newsletter.web.page_cache import FRESH_FOR, PageCache
from tests.conftest import EXAMPLE_BRIEFING

Answer = tuple[int, list[tuple[str, str]], bytes]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def web_settings(settings: Settings, db_url: str) -> Settings:
    return settings.model_copy(update={"database_url": db_url})


@pytest.fixture
def page(web_settings: Settings) -> archive.Page:
    briefing = markdown.load(EXAMPLE_BRIEFING)
    return archive.page_for(briefing, render_digest(briefing, web_settings))


def _publish(sessions: sessionmaker[Session], *pages: archive.Page) -> None:
    with database.transaction(sessions) as session:
        for one in pages:
            archive.publish(session, one)


def _answer(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Answer:
    got = client.request(method, path, headers=headers)
    return got.status_code, got.headers.multi_items(), got.content


def _spy_on_claims(app: Any) -> list[tuple[str, bool]]:
    """Which requests the fast path claimed: proof the comparison compares two paths."""
    claims: list[tuple[str, bool]] = []
    claim = app.fast_archive.claim

    def spy(scope: Scope) -> bool:
        claimed = bool(claim(scope))
        claims.append((f"{scope['method']} {scope['path']}", claimed))
        return claimed

    app.fast_archive.claim = spy
    return claims


def test_the_fast_path_answers_what_the_routes_answer(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    withdrawn = replace(page, slug="withdrawn-paper", html=page.html.replace("Ukraine", "X"))
    _publish(sessions, page, withdrawn)
    with database.transaction(sessions) as session:
        archive.unpublish(session, withdrawn.slug)
    app = create_app(web_settings)
    clock = Clock()
    app.state.page_cache = PageCache(clock=clock)
    client = TestClient(app)
    home_etag = client.get("/").headers["etag"]
    paper = f"/archive/{page.slug}"
    asked: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/", {}),
        ("HEAD", "/", {}),
        ("GET", "/", {"If-None-Match": home_etag}),
        ("GET", paper, {}),
        ("HEAD", paper, {}),
        ("GET", paper, {"If-None-Match": f'W/"other", {page.etag}'}),
        ("HEAD", paper, {"If-None-Match": page.etag}),
        ("GET", paper, {"If-None-Match": '"other"'}),
        ("GET", paper + "?t=a-token", {}),  # a token in the query: private, never cached
        ("GET", f"/archive/{withdrawn.slug}", {}),
        ("GET", "/archive/no-such-paper", {}),
    ]
    for method, path, headers in asked:  # the routes answer first and fill the cache
        client.request(method, path, headers=headers)
    claims = _spy_on_claims(app)

    fast = [_answer(client, *one) for one in asked]
    assert [claimed for _, claimed in claims] == [True] * 9 + [False] * 2
    app.fast_archive = None  # type: ignore[attr-defined]
    assert [_answer(client, *one) for one in asked] == fast

    status, listed, body = fast[3]
    named = dict(listed)
    assert status == 200 and body == page.html.encode()
    assert named["etag"] == page.etag
    assert named["cache-control"] == f"public, max-age={archive.MAX_AGE}"
    assert "frame-ancestors 'none'" in named["content-security-policy"]
    assert named["x-content-type-options"] == "nosniff"
    assert named["referrer-policy"] == "strict-origin-when-cross-origin"
    assert named["strict-transport-security"].startswith("max-age=")
    assert fast[4][0] == 200 and fast[4][2] == b""  # HEAD: the headers, no body
    assert fast[5][0] == 304 and fast[6][0] == 304 and fast[5][2] == b""
    assert fast[2][0] == 304 and dict(fast[2][1])["etag"] == home_etag
    assert dict(fast[8][1])["cache-control"] == "no-store"
    assert fast[9][0] == 404 and fast[10][0] == 404


def test_a_withdrawn_page_is_not_answered_from_memory_once_the_second_is_past(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    _publish(sessions, page)
    app = create_app(web_settings)
    clock = Clock()
    app.state.page_cache = PageCache(clock=clock)
    client = TestClient(app)
    paper = f"/archive/{page.slug}"
    assert page.slug in client.get("/").text and client.get(paper).status_code == 200
    claims = _spy_on_claims(app)

    with database.transaction(sessions) as session:
        archive.unpublish(session, page.slug)
    assert client.get(paper).status_code == 200  # from memory, within the second
    clock.now += FRESH_FOR
    assert client.get(paper).status_code == 404
    assert client.head(paper).status_code == 404
    assert page.slug not in client.get("/").text
    assert claims == [
        (f"GET {paper}", True),
        (f"GET {paper}", False),
        (f"HEAD {paper}", False),
        ("GET /", False),
    ]


def test_the_archive_is_asked_once_a_second_not_once_a_request(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    _publish(sessions, page)
    app = create_app(web_settings)
    clock = Clock()
    app.state.page_cache = PageCache(clock=clock)
    client = TestClient(app)
    queries: list[str] = []

    def count(*args: Any) -> None:
        queries.append(args[2])

    paper = f"/archive/{page.slug}"
    client.get("/"), client.get(paper)
    event.listen(app.state.engine, "before_cursor_execute", count)
    for _ in range(20):
        assert client.get(paper).status_code == 200 and client.get("/").status_code == 200
    assert queries == []

    clock.now += FRESH_FOR  # nothing changed: one look at the stamp, the pages stay
    for _ in range(20):
        assert client.get(paper).status_code == 200
    assert len(queries) == 1


def test_the_stamp_moves_with_every_publication_and_withdrawal(
    sessions: sessionmaker[Session], page: archive.Page
) -> None:
    def stamp() -> tuple[int, int, int]:
        with sessions() as session:
            return archive.stamp(session)

    seen = [stamp()]
    _publish(sessions, page)
    seen.append(stamp())
    _publish(sessions, replace(page, html=page.html + "<!-- corrected -->"))
    seen.append(stamp())
    _publish(sessions, replace(page, slug="another-paper"))
    seen.append(stamp())
    with database.transaction(sessions) as session:
        archive.unpublish(session, "another-paper")
    seen.append(stamp())
    with database.transaction(sessions) as session:
        archive.unpublish(session, page.slug)
    seen.append(stamp())
    assert all(before != after for before, after in pairwise(seen))
    assert seen[2] == seen[4]  # the same rows published again: nothing to read again
    assert seen[0] == seen[-1] == (0, 0, 0)


def test_readers_arriving_together_share_one_read_of_a_page_new_to_the_process(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    """When a briefing goes out every reader's first request finds its page new: the
    page is read once, not once a reader (each read holding a database connection)."""
    _publish(sessions, page)
    app = create_app(web_settings)
    cache: PageCache = app.state.page_cache
    readers = 20
    released = threading.Event()
    opened: list[int] = []
    real_sessions: sessionmaker[Session] = app.state.sessions

    def held_sessions() -> Session:
        opened.append(1)
        released.wait(10)
        return real_sessions()

    arrived = 0
    once = cache._once

    async def counted(key: str, load: Any) -> Any:
        nonlocal arrived
        arrived += 1
        return await once(key, load)

    async def main() -> list[int]:
        await cache.revalidate(real_sessions)
        app.state.sessions = held_sessions
        cache._once = counted  # type: ignore[method-assign]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            asked = [
                asyncio.ensure_future(client.get(f"/archive/{page.slug}")) for _ in range(readers)
            ]
            while arrived < readers:  # every reader waits for the page
                await asyncio.sleep(0)
            released.set()
            return [answer.status_code for answer in await asyncio.gather(*asked)]

    assert asyncio.run(main()) == [200] * readers
    assert len(opened) == 1
