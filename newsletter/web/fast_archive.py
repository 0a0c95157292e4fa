"""The home page and published pages answered from memory, before FastAPI.

Readers arriving from a sent briefing ask for the same few pages over and over; once
``PageCache`` holds one and the archive was checked less than a second ago, the answer
needs no query, no thread and none of FastAPI's routing, exception and dependency
layers. It still goes through the same client-address, security-header and body-limit
middlewares as every request, and is built by the same ``Served.answer`` as the route's,
so both answer alike, HEAD and 304 included. Anything else (the first request, a stale
archive, a 404, a trailing slash Starlette redirects) goes on to the routes in
``web.archive``. This path never redirects, so never names a host.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers, State
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.web.page_cache import PageCache, Served

PAGE_PREFIX = "/archive/"
_CLAIMED = "newsletter.archive"  # the scope key carrying the answer found by ``claim``


class FastArchive:
    """Answers ``GET``/``HEAD`` of ``/`` and ``/archive/{slug}`` held in memory.

    ``claim`` finds the answer; only then is the request run through ``guards`` around
    a handler that sends it."""

    def __init__(self, state: State, guards: Callable[[ASGIApp], ASGIApp]) -> None:
        self.state = state
        self.app = guards(self._answer)

    def claim(self, scope: Scope) -> bool:
        """True when this request is one it can answer now (then ``__call__`` it)."""
        path: str = scope["path"]
        if path != "/" and not path.startswith(PAGE_PREFIX):
            return False
        cache: PageCache | None = getattr(self.state, "page_cache", None)
        if scope["method"] not in ("GET", "HEAD") or cache is None or not cache.fresh():
            return False
        served = cache.home() if path == "/" else cache.page(path[len(PAGE_PREFIX) :])
        if served is None:
            return False
        scope[_CLAIMED] = served
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        served: Served = scope[_CLAIMED]
        response = served.answer(Headers(scope=scope).get("if-none-match"))
        await response(scope, receive, send)
