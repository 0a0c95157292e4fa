"""The public archive: the home page, ``/archive/<slug>``, the Atom feed and the sitemap.

Everything here reads the published pages from the database (``campaigns.archive``), so
every web process on every machine serves the same archive, and a paper that is only
rendered or scheduled (under embargo) is nowhere: not listed, and its URL is a 404.

A published page's html never changes, so it is served with a strong ``ETag`` and kept
in memory by slug and etag, and a browser that already has the page gets a 304. A web
process asks the database which version a slug serves at most once a second
(``FRESH_FOR``): a correction or a takedown from any machine is seen within a second,
and in between a page costs no query and no thread.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from time import monotonic
from typing import Annotated
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from newsletter.campaigns import archive
from newsletter.config import Settings
from newsletter.errors import NotFound

router = APIRouter()
FRESH_FOR = 1.0  # seconds a web process serves a page from memory before asking again
CACHE_CONTROL = f"public, max-age={archive.MAX_AGE}"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,120}")


@dataclass(frozen=True)
class Served:
    """What ``/archive/<slug>`` answers now: the immutable html and its validators."""

    etag: str
    last_modified: str
    body: bytes


class PageCache:
    """Recently served pages by slug, checked against the database at most once every
    ``fresh_for`` seconds; their html by (slug, etag), a few hundred kB at most."""

    def __init__(
        self, size: int = 64, fresh_for: float = FRESH_FOR, clock: Callable[[], float] = monotonic
    ) -> None:
        self._size = size
        self.fresh_for = fresh_for
        self.clock = clock
        self._pages: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._current: dict[str, tuple[float, Served]] = {}
        self._lock = threading.Lock()

    def fresh(self, slug: str) -> Served | None:
        """The page served for ``slug`` if the database said so less than ``fresh_for`` ago."""
        found = self._current.get(slug)
        if found is None or self.clock() - found[0] >= self.fresh_for:
            return None
        return found[1]

    def checked(self, slug: str, served: Served | None) -> None:
        """Note what the database said just now (None: no such page)."""
        with self._lock:
            if served is None:
                self._current.pop(slug, None)
                return
            self._current[slug] = (self.clock(), served)
            while len(self._current) > self._size:
                self._current.pop(next(iter(self._current)))

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


Config = Annotated[Settings, Depends(_settings)]
Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]


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


def _current(sessions: sessionmaker[Session], cache: PageCache, slug: str) -> Served | None:
    """Ask the database which page ``slug`` serves now (one small indexed read, and the
    html only when this version is not in memory yet)."""
    served: Served | None = None
    with sessions() as session:
        current = archive.current_page(session, slug)
        if current is not None:
            body = cache.get(slug, current.etag)
            if body is None:
                html = archive.html_of(session, current.id)
                body = html.encode() if html is not None else None  # None: just taken down
                if body is not None:
                    cache.put(slug, current.etag, body)
            if body is not None:
                modified = current.published_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
                served = Served(current.etag, modified, body)
    cache.checked(slug, served)
    return served


@router.get("/archive/{slug}")
async def archive_page(slug: str, request: Request) -> Response:
    """Served from memory while the database was asked less than a second ago (no
    thread, no query); a page republished or taken down is seen within that second."""
    if not _SLUG.fullmatch(slug):
        raise NotFound("no such briefing")
    cache: PageCache = request.app.state.page_cache
    served = cache.fresh(slug)
    if served is None:
        served = await run_in_threadpool(_current, request.app.state.sessions, cache, slug)
        if served is None:
            raise NotFound("no such briefing")
    headers = {
        "ETag": served.etag,
        "Cache-Control": CACHE_CONTROL,
        "Last-Modified": served.last_modified,
    }
    if _matches(request.headers.get("if-none-match"), served.etag):
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type="text/html; charset=utf-8", headers=headers)


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
