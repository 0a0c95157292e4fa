"""``/r/{token}``: a tracked link, answered with a 302 to the campaign's stored URL only.

The token is signed (``results.linktable``) and names a campaign and an index in that
campaign's stored link table, so neither a forged token nor an edited one, nor a real
token with an index the table lacks, redirects anywhere: all answer 404. The link
tables never change once stored, so each web process keeps them in memory and a click
costs one HMAC and no database read; clicks are written in batches (``ClickRecorder``).

After a send almost every request is a click, so ``FastClicks`` answers one whose
campaign table is in memory before FastAPI sees it, through the same client-address,
security-header and body-limit middlewares as every request, but without FastAPI's
error, routing, exception and dependency layers. Anything else (a bad token, a
campaign not yet loaded) goes on to the route below, which answers the same way or
with the 404 page. ``/o/{token}`` is the optional open pixel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter import tokens
from newsletter.config import Settings
from newsletter.errors import NotFound, TokenError
from newsletter.results import linktable
from newsletter.results.clicks import ClickRecorder
from newsletter.results.models import Open
from subscribers.models import Subscriber

FLUSH_EVERY = 0.25  # seconds between batched writes of clicks whose burst window passed
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NOT_VALID = "This link is not valid. Please use the link in the email as it was sent."
PREFIX = "/r/"
# The route's own headers; SecurityHeaders adds the rest (``/r/`` counts as private there).
_HEADERS = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]
_SAFE = ":/%#?=@[]!$&'()*+,;"  # what Starlette's RedirectResponse leaves unquoted


class LinkTables:
    """Each campaign's stored URLs, read once per process (they never change), kept
    as the ``Location`` values to answer with."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._known: dict[int, tuple[bytes, ...]] = {}
        self._loading: dict[int, asyncio.Lock] = {}

    def get(self, campaign_id: int) -> tuple[bytes, ...] | None:
        return self._known.get(campaign_id)

    async def fetch(self, campaign_id: int) -> tuple[bytes, ...]:
        """The table, read once however many first clicks arrive together: right after a
        send, hundreds of readers' first clicks would otherwise each take a database
        connection to read the same rows, and wait in the pool for it."""
        found = self._known.get(campaign_id)
        if found is not None:
            return found
        async with self._loading.setdefault(campaign_id, asyncio.Lock()):
            found = self._known.get(campaign_id)
            if found is None:
                found = await run_in_threadpool(self.load, campaign_id)
        return found

    def load(self, campaign_id: int) -> tuple[bytes, ...]:
        with self._sessions() as session:
            urls = [link.url for link in linktable.load(session, campaign_id)]
        found = tuple(quote(url, safe=_SAFE).encode("latin-1") for url in urls)
        if found:
            self._known[campaign_id] = found
        return found


class Followed(NamedTuple):
    """What a valid click token names: never a URL, only an index into a stored table.
    A tuple: made on every click, where a frozen dataclass cost several times more."""

    campaign_id: int
    idx: int
    reader: int | None  # person-mode tokens only
    copy: str | None  # the per-copy nonce of aggregate-mode tokens: not the reader


def _int(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_click(secret: bytes, token: str) -> Followed | None:
    """The click a token names, or None for a forged, edited, foreign or damaged one."""
    try:
        payload = tokens.verify(secret, linktable.CLICK, token)
    except TokenError:
        return None
    campaign_id, idx = _int(payload, "c"), _int(payload, "l")
    if campaign_id is None or idx is None:
        return None
    copy = payload.get(linktable.COPY)
    return Followed(campaign_id, idx, _int(payload, "s"), copy if isinstance(copy, str) else None)


def record(state: State, click: Followed, links: int, *, head: bool, client: str) -> None:
    """Hold the click for the batched write. The burst is judged per copy: by the
    reader in person mode, by the copy's nonce in aggregate mode (so readers behind
    one office address are told apart), and by the client's address only for a
    token that carries neither. None of these keys is ever written."""
    settings: Settings = state.settings
    if settings.tracking == "off":
        return
    if click.reader is not None:
        key = f"s{click.reader}"
    elif click.copy is not None:
        key = f"k{click.copy}"
    else:
        key = f"ip{client}"
    recorder: ClickRecorder = state.clicks
    recorder.record(
        click.campaign_id,
        click.idx,
        reader=click.reader if settings.tracking == "person" else None,
        key=key,
        links_in_copy=links,
        head=head,
    )


_CLAIMED = "newsletter.click"  # the scope key carrying a click checked by ``FastClicks.claim``


class FastClicks:
    """Answers ``GET``/``HEAD /r/{token}`` for a campaign in memory, before FastAPI.

    ``claim`` checks the token and finds the URL; only then is the request run through
    ``guards`` (the same client-address, security-header and body-limit middlewares
    as every other request) around a handler that records the click and answers 302."""

    def __init__(self, state: State, guards: Callable[[ASGIApp], ASGIApp]) -> None:
        self.state = state
        self.app = guards(self._redirect)

    def claim(self, scope: Scope) -> bool:
        """True when this request is a click it can answer (then ``__call__`` it)."""
        if not scope["path"].startswith(PREFIX):
            return False
        method = scope["method"]
        token = scope["path"][len(PREFIX) :]
        tables: LinkTables | None = getattr(self.state, "link_tables", None)
        if method not in ("GET", "HEAD") or not token or "/" in token or tables is None:
            return False
        click = read_click(self.state.settings.secret, token)
        urls = tables.get(click.campaign_id) if click is not None else None
        if click is None or urls is None or not 0 <= click.idx < len(urls):
            return False  # the route answers: its 404 page, or the table read first
        scope[_CLAIMED] = (click, urls)
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _redirect(self, scope: Scope, _receive: Receive, send: Send) -> None:
        click, urls = scope[_CLAIMED]
        client = scope.get("client")
        head = scope["method"] == "HEAD"
        record(self.state, click, len(urls), head=head, client=client[0] if client else "")
        headers = [(b"location", urls[click.idx]), (b"content-length", b"0"), *_HEADERS]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def _flusher(recorder: ClickRecorder) -> None:
    while True:
        await asyncio.sleep(FLUSH_EVERY)
        with contextlib.suppress(Exception):  # the database is down: kept, tried again
            await asyncio.to_thread(recorder.flush_due)


def _matched_first(app: FastAPI) -> None:
    """Try ``/r/`` and ``/o/`` before the app's other routes: the router walks its routes
    in order, and matching them last would cost more than answering them. No other
    route starts with ``/r/`` or ``/o/``, so nothing is shadowed."""
    routes = app.router.routes
    ours = [r for r in routes if getattr(r, "original_router", None) is router]
    for route in ours:
        routes.remove(route)
    routes[0:0] = ours


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Write clicks in the background; on shutdown (SIGTERM) write every click held."""
    _matched_first(app)
    recorder = ClickRecorder(app.state.engine)
    app.state.clicks = recorder
    app.state.link_tables = LinkTables(app.state.sessions)
    # What start-up made (modules, templates, the ORM's mappers: most of the heap) is
    # never garbage: frozen, the collections that clicks held for their burst window
    # set off no longer walk it each time.
    gc.freeze()
    task = asyncio.create_task(_flusher(recorder))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(recorder.close)


router = APIRouter(lifespan=lifespan)


def _payload(settings: Settings, purpose: str, token: str) -> dict[str, Any]:
    try:
        return tokens.verify(settings.secret, purpose, token)
    except TokenError as exc:
        raise NotFound(NOT_VALID) from exc


async def follow(request: Request) -> Response:
    """The route behind ``FastClicks``: the first click of a campaign reads its table,
    and a token that names no stored link gets the 404 page."""
    state = request.app.state
    click = read_click(state.settings.secret, request.path_params["token"])
    if click is None:
        raise NotFound(NOT_VALID)
    tables: LinkTables = state.link_tables
    urls = await tables.fetch(click.campaign_id)
    if not 0 <= click.idx < len(urls):
        raise NotFound(NOT_VALID)
    client = request.client.host if request.client else ""
    record(state, click, len(urls), head=request.method == "HEAD", client=client)
    headers = {"location": urls[click.idx].decode("latin-1")}
    headers.update((k.decode(), v.decode()) for k, v in _HEADERS)
    return Response(status_code=302, headers=headers)


router.add_route("/r/{token}", follow, methods=["GET", "HEAD"], include_in_schema=False)


def _store_open(sessions: sessionmaker[Session], campaign_id: int, reader: int | None) -> None:
    with sessions.begin() as session:
        if (
            reader is not None
            and session.scalar(select(Subscriber.id).where(Subscriber.id == reader)) is None
        ):
            reader = None
        session.execute(insert(Open).values(campaign_id=campaign_id, subscriber_id=reader))


@router.get("/o/{token}", include_in_schema=False)
async def opened(request: Request, token: str) -> Response:
    """The open pixel: counted only when opens are tracked; an estimate at best."""
    settings: Settings = request.app.state.settings
    payload = _payload(settings, linktable.OPEN, token)
    campaign_id = _int(payload, "c")
    if campaign_id is None:
        raise NotFound(NOT_VALID)
    if settings.track_opens:
        reader = _int(payload, "s") if settings.tracking == "person" else None
        await run_in_threadpool(_store_open, request.app.state.sessions, campaign_id, reader)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})
