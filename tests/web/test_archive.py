"""The public archive: only published pages are listed and served, from the database."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.briefing import markdown
from newsletter.campaigns import archive
from newsletter.config import Settings
from newsletter.digest import render_digest
from newsletter.web.app import create_app
from newsletter.web.page_cache import FRESH_FOR, PageCache
from tests.conftest import EXAMPLE_BRIEFING

TITLE = "Foreign Ministers renew pledges to Ukraine"


@pytest.fixture
def web_settings(settings: Settings, db_url: str) -> Settings:
    return settings.model_copy(update={"database_url": db_url})


@pytest.fixture
def page(web_settings: Settings) -> archive.Page:
    briefing = markdown.load(EXAMPLE_BRIEFING)
    return archive.page_for(briefing, render_digest(briefing, web_settings))


def page_title(page: archive.Page) -> str:
    return f"Briefing {page.number}: {page.title}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _publish(sessions: sessionmaker[Session], page: archive.Page) -> None:
    with database.transaction(sessions) as session:
        archive.publish(session, page)


def test_home_feed_and_sitemap_list_published_briefings_and_serve_them(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    app = create_app(web_settings)
    clock = Clock()
    app.state.page_cache = PageCache(clock=clock)
    client = TestClient(app)
    empty = client.get("/")
    assert empty.status_code == 200 and "No briefing has been published yet" in empty.text
    assert "/archive/" not in client.get("/feed.xml").text
    assert "/archive/" not in client.get("/sitemap.xml").text

    _publish(sessions, page)
    clock.now += FRESH_FOR  # the home page in memory is a second old: the archive is asked
    home = client.get("/")
    assert home.status_code == 200
    assert f"/archive/{page.slug}" in home.text and TITLE in home.text
    assert "/subscribe" in home.text and "/donate" in home.text
    feed = client.get("/feed.xml")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    (entry,) = ElementTree.fromstring(feed.content).iter(f"{atom}entry")  # noqa: S314 -- a feed reader's view of our own feed
    assert entry.findtext(f"{atom}title") == page_title(page)
    assert f"<id>https://news.example.org/archive/{page.slug}</id>" in feed.text
    assert "Briefing 112: Foreign Ministers" in feed.text
    sitemap = client.get("/sitemap.xml")
    assert f"<loc>https://news.example.org/archive/{page.slug}</loc>" in sitemap.text

    served = client.get(f"/archive/{page.slug}")
    assert served.status_code == 200 and served.text == page.html
    assert served.headers["content-type"].startswith("text/html")
    assert "Donate now" in served.text


def test_a_page_carries_an_etag_and_an_unchanged_page_is_not_sent_again(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    _publish(sessions, page)
    client = TestClient(create_app(web_settings))
    first = client.get(f"/archive/{page.slug}")
    etag = first.headers["etag"]
    assert etag == page.etag and etag.startswith('"')
    assert first.headers["cache-control"] == f"public, max-age={archive.MAX_AGE}"

    again = client.get(f"/archive/{page.slug}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    stale = client.get(f"/archive/{page.slug}", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.text == page.html


def test_a_republished_or_withdrawn_page_is_seen_within_a_second_despite_the_cache(
    web_settings: Settings, sessions: sessionmaker[Session], page: archive.Page
) -> None:
    """Another machine publishes a correction, then takes the page down: this web
    process, which has the first version in memory, follows both once its copy is
    a second old (and serves from memory, asking nobody, until then)."""
    _publish(sessions, page)
    app = create_app(web_settings)
    clock = Clock()
    app.state.page_cache = PageCache(clock=clock)
    client = TestClient(app)
    assert client.get(f"/archive/{page.slug}").text == page.html  # now cached

    corrected = replace(page, html=page.html.replace(TITLE, "Corrected title"))
    _publish(sessions, corrected)
    clock.now += FRESH_FOR * 0.9
    assert client.get(f"/archive/{page.slug}").text == page.html  # from memory
    clock.now += FRESH_FOR * 0.2
    served = client.get(f"/archive/{page.slug}")
    assert "Corrected title" in served.text and served.headers["etag"] == corrected.etag
    assert (
        client.get(f"/archive/{page.slug}", headers={"If-None-Match": page.etag}).status_code == 200
    )

    with database.transaction(sessions) as session:
        assert archive.unpublish(session, page.slug) == 2
    clock.now += FRESH_FOR
    assert client.get(f"/archive/{page.slug}").status_code == 404
    assert f"/archive/{page.slug}" not in client.get("/").text
    assert "/archive/" not in client.get("/feed.xml").text


def test_publishing_the_same_page_twice_changes_nothing(
    sessions: sessionmaker[Session], page: archive.Page
) -> None:
    with database.transaction(sessions) as session:
        first = archive.publish(session, page)
        assert first is not None
        assert archive.publish(session, page) is None
        assert len(archive.published(session)) == 1


def test_unknown_or_hostile_archive_paths_are_not_found(web_settings: Settings) -> None:
    client = TestClient(create_app(web_settings))
    for path in ("/archive/nope", "/archive/..%2Fnewsletter.db", "/archive/A_B"):
        assert client.get(path).status_code == 404


def test_restyled_page_templates_cannot_reach_secrets(settings: Settings, tmp_path: Path) -> None:
    """Page templates are staff-editable: they see the public settings only, sandboxed."""
    templates = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, templates)
    (templates / "web" / "home.html").write_text(
        "{{ settings.organisation_name }}|{{ settings.secret_key }}|{{ settings.database_url }}"
        "|{{ settings.__class__ }}|{{ settings.stripe_secret_key }}"
    )
    restyled = settings.model_copy(
        update={"templates_dir": templates, "stripe_secret_key": SecretStr("sk_test_hidden")}
    )
    page = TestClient(create_app(restyled)).get("/")
    assert page.status_code == 200
    assert page.text.startswith(settings.organisation_name + "|")
    for secret in ("test-secret-key", "sk_test_hidden", "sqlite", "newsletter.db", "Settings"):
        assert secret not in page.text
