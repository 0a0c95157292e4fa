"""The public archive: the home page, ``/archive/<slug>``, the Atom feed and the sitemap.

Everything here reads the published pages from the database (``campaigns.archive``), so
every web process on every machine serves the same archive, and a paper that is only
rendered or scheduled (under embargo) is nowhere: not listed, and its URL is a 404.

A published page's html never changes, so it is served with a strong ``ETag`` and a
browser that already has the page gets a 304. The page and the home page are kept in
memory (``PageCache``), checked against the database at most once a second, and then
answered before FastAPI by ``FastArchive``; the routes here answer the rest (the first
request, a 404) and build every answer the same way (``Served.answer``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Annotated
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import State

from newsletter.campaigns import archive
from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.web.page_cache import PageCache

router = APIRouter()
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,120}")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


Config = Annotated[Settings, Depends(_settings)]
Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]


def _published(sessions: sessionmaker[Session]) -> list[archive.Listed]:
    with sessions() as session:
        return archive.published(session)


def _render_home(state: State, briefings: list[archive.Listed]) -> str:
    page: str = state.templates.get_template("home.html").render(
        settings=state.settings.public(), briefings=briefings
    )
    return page


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """The published briefings, kept in memory: rendered again when the archive changed,
    and at least once a second while asked, so an edited page template shows too."""
    state = request.app.state
    cache: PageCache = state.page_cache
    await cache.revalidate(state.sessions)
    served = await cache.home_now(state.sessions, partial(_render_home, state))
    return served.answer(request.headers.get("if-none-match"))


@router.get("/archive/{slug}")
async def archive_page(slug: str, request: Request) -> Response:
    """A published page: from memory while the archive was checked less than a second
    ago, else one small read; a page republished or taken down is seen within that second."""
    if not _SLUG.fullmatch(slug):
        raise NotFound("no such briefing")
    state = request.app.state
    cache: PageCache = state.page_cache
    await cache.revalidate(state.sessions)
    served = await cache.page_now(state.sessions, slug)
    if served is None:
        raise NotFound("no such briefing")
    return served.answer(request.headers.get("if-none-match"))


# HEAD answers what GET does, without the body (a link checker's or a proxy's question).
router.add_api_route("/", home, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/archive/{slug}", archive_page, methods=["HEAD"], include_in_schema=False)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/feed.xml")
def feed(settings: Config, sessions: Sessions) -> Response:
    """An Atom feed of the published briefings, newest first."""
    base = settings.public_base_url
    entries = _published(sessions)
    updated = max((e.published_at for e in entries), default=datetime(2000, 1, 1, tzinfo=UTC))
    org = escape(settings.organisation_name)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{org} briefings</title>",
        f"<id>{escape(base)}/</id>",
        f'<link rel="self" href={quoteattr(base + "/feed.xml")}/>',
        f"<link href={quoteattr(base + '/')}/>",
        f"<updated>{_iso(updated)}</updated>",
        f"<author><name>{org}</name></author>",
    ]
    for e in entries:
        url = f"{base}/archive/{e.slug}"
        title = f"Briefing {e.number}: {e.title}" if e.number else e.title
        lines += [
            "<entry>",
            f"<title>{escape(title)}</title>",
            f"<id>{escape(url)}</id>",
            f"<link href={quoteattr(url)}/>",
            f"<published>{_iso(e.published_at)}</published>",
            f"<updated>{_iso(e.published_at)}</updated>",
            "</entry>",
        ]
    lines.append("</feed>")
    return Response("\n".join(lines) + "\n", media_type="application/atom+xml; charset=utf-8")


@router.get("/sitemap.xml")
def sitemap(settings: Config, sessions: Sessions) -> Response:
    """The public pages search engines may index: home, subscribe, and published briefings."""
    base = settings.public_base_url
    urls: list[tuple[str, datetime | None]] = [(f"{base}/", None), (f"{base}/subscribe", None)]
    urls += [(f"{base}/archive/{e.slug}", e.published_at) for e in _published(sessions)]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for url, when in urls:
        lastmod = f"<lastmod>{when.astimezone(UTC).date().isoformat()}</lastmod>" if when else ""
        lines.append(f"<url><loc>{escape(url)}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return Response("\n".join(lines) + "\n", media_type="application/xml; charset=utf-8")
