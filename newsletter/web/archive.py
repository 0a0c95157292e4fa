"""The public archive: the home page, ``/archive/<slug>``, the Atom feed and the sitemap.

Everything here reads the published pages from the database (``campaigns.archive``), so
every web process on every machine serves the same archive, and a paper that is only
rendered or scheduled (under embargo) is nowhere: not listed, and its URL is a 404.

A published page's html never changes, so it is served with a strong ``ETag`` and kept
in memory by slug and etag: a request costs one small indexed read, and a browser that
already has the page gets a 304.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from newsletter.campaigns import archive
from newsletter.config import Settings
from newsletter.errors import NotFound

router = APIRouter()
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,120}")


class PageCache:
    """The html of recently served pages, by (slug, etag); a few hundred kB at most."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._pages: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, slug: str, etag: str) -> bytes | None:
        with self._lock:
            found = self._pages.get((slug, etag))
            if found is not None:
                self._pages.move_to_end((slug, etag))
            return found

    def put(self, slug: str, etag: str, html: bytes) -> None:
        with self._lock:
            self._pages[(slug, etag)] = html
            self._pages.move_to_end((slug, etag))
            while len(self._pages) > self._size:
                self._pages.popitem(last=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def _cache(request: Request) -> PageCache:
    cache: PageCache = request.app.state.page_cache
    return cache


Config = Annotated[Settings, Depends(_settings)]
Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]
Cache = Annotated[PageCache, Depends(_cache)]


def _published(sessions: sessionmaker[Session]) -> list[archive.Listed]:
    with sessions() as session:
        return archive.published(session)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, settings: Config, sessions: Sessions) -> HTMLResponse:
    page = request.app.state.templates.get_template("home.html").render(
        settings=settings.public(), briefings=_published(sessions)
    )
    return HTMLResponse(page)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


@router.get("/archive/{slug}")
def archive_page(slug: str, request: Request, sessions: Sessions, cache: Cache) -> Response:
    if not _SLUG.fullmatch(slug):
        raise NotFound("no such briefing")
    with sessions() as session:
        current = archive.current_page(session, slug)
        if current is None:
            raise NotFound("no such briefing")
        headers = {
            "ETag": current.etag,
            "Cache-Control": f"public, max-age={archive.MAX_AGE}",
            "Last-Modified": current.published_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        if _matches(request.headers.get("if-none-match"), current.etag):
            return Response(status_code=304, headers=headers)
        body = cache.get(slug, current.etag)
        if body is None:
            html = archive.html_of(session, current.id)
            if html is None:  # taken down between the two reads
                raise NotFound("no such briefing")
            body = html.encode()
            cache.put(slug, current.etag, body)
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


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
