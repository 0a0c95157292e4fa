"""``/r/{token}``: a tracked link, answered with a 302 to the campaign's stored URL only.

The token is signed (``results.linktable``) and names a campaign and an index in that
campaign's stored link table, so neither a forged token nor an edited one, nor a real
token with an index the table lacks, redirects anywhere: all answer 404. The link
tables never change once stored, so each web process keeps them in memory and a click
costs one HMAC and no database read; clicks are written in batches (``ClickRecorder``).
``/o/{token}`` is the optional open pixel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

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


class LinkTables:
    """Each campaign's stored URLs, read once per process (they never change)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._known: dict[int, tuple[str, ...]] = {}

    def get(self, campaign_id: int) -> tuple[str, ...] | None:
        return self._known.get(campaign_id)

    def load(self, campaign_id: int) -> tuple[str, ...]:
        with self._sessions() as session:
            urls = tuple(link.url for link in linktable.load(session, campaign_id))
        if urls:
            self._known[campaign_id] = urls
        return urls


async def _flusher(recorder: ClickRecorder) -> None:
    while True:
        await asyncio.sleep(FLUSH_EVERY)
        with contextlib.suppress(Exception):  # the database is down: kept, tried again
            await asyncio.to_thread(recorder.flush_due)


def _matched_first(app: FastAPI) -> None:
    """Try ``/r/`` and ``/o/`` before the app's other routes: the router walks its routes
    in order, and after a send these paths take almost every request, so matching them
    last would cost more than answering them. No other route starts with ``/r/`` or
    ``/o/``, so nothing is shadowed."""
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


def _int(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def follow(request: Request) -> Response:
    """A plain Starlette endpoint (no FastAPI parameter machinery): this route takes the
    bursts after a send, so it costs only the token check and an append to a buffer."""
    token: str = request.path_params["token"]
    settings: Settings = request.app.state.settings
    payload = _payload(settings, linktable.CLICK, token)
    campaign_id, idx = _int(payload, "c"), _int(payload, "l")
    if campaign_id is None or idx is None:
        raise NotFound(NOT_VALID)
    tables: LinkTables = request.app.state.link_tables
    urls = tables.get(campaign_id)
    if urls is None:
        urls = await run_in_threadpool(tables.load, campaign_id)
    if not 0 <= idx < len(urls):
        raise NotFound(NOT_VALID)
    if settings.tracking != "off":
        reader = _int(payload, "s") if settings.tracking == "person" else None
        client = request.client.host if request.client else ""
        recorder: ClickRecorder = request.app.state.clicks
        recorder.record(
            campaign_id,
            idx,
            reader=reader,
            key=f"s{reader}" if reader is not None else f"ip{client}",
            links_in_copy=len(urls),
            head=request.method == "HEAD",
        )
    return RedirectResponse(
        urls[idx],
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


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
