"""The public archive's answers kept in memory: published pages and the home page.

A published page's html never changes (``campaigns.archive``), so a web process keeps
what it served and only asks whether anything was published or taken down since: one
small query for the whole archive (``archive.stamp``) at most every ``fresh_for``
seconds, never one per request. When the stamp moves, every answer is dropped and read
again on its next request (a version's html stays kept by slug and etag), so a
correction or a takedown from any machine is seen within about a second. The home page
is rendered again at least that often too, so an edited page template shows as well.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from time import monotonic
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from newsletter.campaigns import archive

FRESH_FOR = 1.0  # seconds a web process answers from memory before asking again
PAGE_CACHE_CONTROL = f"public, max-age={archive.MAX_AGE}"
# The listing changes whenever a paper is published or taken down: a browser may keep
# it but asks each time, and gets a 304 while it has not changed.
HOME_CACHE_CONTROL = "no-cache"
HTML = "text/html; charset=utf-8"
_HOME = "/"  # the home page's key among the loads under way (no slug is "/")
T = TypeVar("T")


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


def _http_date(when: archive.Current) -> str:
    return when.published_at.strftime("%a, %d %b %Y %H:%M:%S GMT")


@dataclass(frozen=True)
class Served:
    """An immutable html answer and its validators."""

    etag: str
    body: bytes
    cache_control: str
    last_modified: str | None = None

    def answer(self, if_none_match: str | None) -> Response:
        """The response to a GET or HEAD: the page, or a 304 when the browser has it.
        The one place both the FastAPI route and the fast path build it."""
        headers = {"ETag": self.etag, "Cache-Control": self.cache_control}
        if self.last_modified is not None:
            headers["Last-Modified"] = self.last_modified
        if _matches(if_none_match, self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=HTML, headers=headers)


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class PageCache:
    """The answers of this generation of the archive (a stamp read from the database),
    and the html of recently served versions by (slug, etag): a few hundred kB at most.

    ``fresh`` and the lookups never touch the database; ``revalidate``, ``load_page``
    and ``render_home`` may, and run the query in a thread."""

    def __init__(
        self, size: int = 64, fresh_for: float = FRESH_FOR, clock: Callable[[], float] = monotonic
    ) -> None:
        self._size = size
        self.fresh_for = fresh_for
        self.clock = clock
        self._html: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._pages: dict[str, Served] = {}
        self._home: tuple[float, Served] | None = None
        self._listed: list[archive.Listed] | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._generation = 0
        self._checked: float | None = None
        self._checking = False
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self._lock = threading.Lock()

    def fresh(self) -> bool:
        """True while what is in memory may be answered without asking: the stamp was
        read less than ``fresh_for`` ago, or is being read right now (its answer is due
        within the few milliseconds the query takes)."""
        checked = self._checked
        return self._checking or (checked is not None and self.clock() - checked < self.fresh_for)

    async def revalidate(self, sessions: sessionmaker[Session]) -> None:
        """Read the stamp when it is due; one request reads it, the others meanwhile
        answer from what is known."""
        if self.fresh():
            return
        self._checking = True
        try:
            await run_in_threadpool(self._read_stamp, sessions)
        finally:
            self._checking = False

    def _read_stamp(self, sessions: sessionmaker[Session]) -> None:
        with sessions() as session:
            stamp = archive.stamp(session)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                self._generation += 1
                self._pages.clear()
                self._listed = None
                self._home = None
            self._checked = self.clock()

    def page(self, slug: str) -> Served | None:
        """The page ``slug`` serves in this generation, if it was asked for already."""
        return self._pages.get(slug)

    def home(self) -> Served | None:
        """The home page, if rendered less than ``fresh_for`` ago in this generation."""
        kept = self._home
        if kept is None or self.clock() - kept[0] >= self.fresh_for:
            return None
        return kept[1]

    async def page_now(self, sessions: sessionmaker[Session], slug: str) -> Served | None:
        """The page ``slug`` serves, from memory or read once for every request asking
        at the same moment."""
        return self.page(slug) or await self._once(slug, partial(self.load_page, sessions, slug))

    async def home_now(
        self, sessions: sessionmaker[Session], render: Callable[[list[archive.Listed]], str]
    ) -> Served:
        """The home page, from memory or rendered once for every request asking at the
        same moment."""
        kept = self.home()
        if kept is not None:
            return kept
        rendered: Served = await self._once(_HOME, partial(self.render_home, sessions, render))
        return rendered

    async def _once(self, key: str, load: Callable[[], T]) -> T:
        """``load()`` in a thread, shared by the requests that want it meanwhile: when a
        briefing goes out its page is new to every process, and hundreds of readers'
        first requests would each take a database connection to read the same row."""
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(load))
            self._loading[key] = pending
        try:
            found: T = await asyncio.shield(pending)
            return found
        finally:
            if pending.done() and self._loading.get(key) is pending:
                del self._loading[key]

    def load_page(self, sessions: sessionmaker[Session], slug: str) -> Served | None:
        """Ask the database which page ``slug`` serves now (one small indexed read, and
        the html only when this version is not in memory yet); None: no such page."""
        generation = self._generation  # before the read: a stamp read after it wins
        served: Served | None = None
        with sessions() as session:
            current = archive.current_page(session, slug)
            if current is not None:
                body = self._kept_html(slug, current.etag)
                if body is None:
                    html = archive.html_of(session, current.id)
                    body = html.encode() if html is not None else None  # None: just taken down
                    if body is not None:
                        self._keep_html(slug, current.etag, body)
                if body is not None:
                    served = Served(current.etag, body, PAGE_CACHE_CONTROL, _http_date(current))
        if served is not None:
            with self._lock:
                if generation == self._generation:
                    self._pages[slug] = served
                    while len(self._pages) > self._size:
                        self._pages.pop(next(iter(self._pages)))
        return served

    def render_home(
        self, sessions: sessionmaker[Session], render: Callable[[list[archive.Listed]], str]
    ) -> Served:
        """Render the home page from the published list (read once a generation)."""
        generation = self._generation
        listed = self._listed
        if listed is None:
            with sessions() as session:
                listed = archive.published(session)
        body = render(listed).encode()
        served = Served(strong_etag(body), body, HOME_CACHE_CONTROL)
        with self._lock:
            if generation == self._generation:
                self._listed = listed
                self._home = (self.clock(), served)
        return served

    def _kept_html(self, slug: str, etag: str) -> bytes | None:
        with self._lock:
            found = self._html.get((slug, etag))
            if found is not None:
                self._html.move_to_end((slug, etag))
            return found

    def _keep_html(self, slug: str, etag: str, html: bytes) -> None:
        with self._lock:
            self._html[(slug, etag)] = html
            self._html.move_to_end((slug, etag))
            while len(self._html) > self._size:
                self._html.popitem(last=False)
