"""One-click unsubscribe POSTs (RFC 8058) answered before FastAPI, written in groups.

A send of fifty thousand copies brings one-click POSTs from mail clients in bursts,
and each must be stored before it is answered: the reader is told "unsubscribed"
only once a commit holds it. Written one transaction per request, the commit and the
ORM cost a request several milliseconds. Here the requests that arrive while a write
is under way wait together and go in the next one: ``UnsubscribeWriter`` writes a
whole group with ``people.unsubscribe_all`` (the one place the rule lives) in one
transaction, then answers each of them.

``FastUnsubscribe`` takes only a form-encoded ``POST /u/{token}`` with a valid token
and a declared length, runs it through the same ``guards`` as every request, and
answers the same page as the route in ``public``. Anything else (a bad token, a
multipart body, the GET page) goes on to that route; so does a request whose group
failed to write, which the route then tries alone and answers as it would (503 when
the connection pool is full).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from time import monotonic
from urllib.parse import parse_qsl

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter import links, tokens
from newsletter.database import transaction, writer
from newsletter.errors import TokenError
from newsletter.web.app import EditedLoader
from newsletter.web.limits import FORM_LIMIT
from newsletter.web.public import leaving
from subscribers import people

PREFIX = "/u/"
GROUP_MOST = 500  # requests written in one transaction at most
SERVER_PARALLEL = 4  # groups written at once on PostgreSQL
PAGE = "unsubscribed.html"
_FORM = b"application/x-www-form-urlencoded"
_CLAIMED = "newsletter.unsubscribe"  # the scope key carrying a request checked by ``claim``


class UnsubscribeWriter:
    """Group commit: ``parallel`` groups are written at a time, each by a worker thread;
    the requests that arrive meanwhile queue for the next. Lives on the event loop's
    thread. SQLite has one writer anyway; a server database takes a few groups at once,
    which keeps them small and its waits (a commit, a busy machine) overlapping."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], parallel: int = 1) -> None:
        self.engine = engine
        self.sessions = sessions
        self.parallel = parallel
        self._waiting: list[tuple[people.Leaving, asyncio.Future[bool | None]]] = []
        self._writing: set[asyncio.Task[None]] = set()

    @classmethod
    def for_engine(cls, engine: Engine, sessions: sessionmaker[Session]) -> UnsubscribeWriter:
        return cls(engine, sessions, 1 if engine.dialect.name == "sqlite" else SERVER_PARALLEL)

    async def unsubscribe(self, asked: people.Leaving) -> bool | None:
        """``people.unsubscribe_all``'s answer for this request, once committed; raises
        what writing its group raised."""
        future: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((asked, future))
        if len(self._writing) < self.parallel:
            self._writing.add(asyncio.create_task(self._drain()))
        return await future

    def queued(self) -> int:
        """Requests waiting for the next group."""
        return len(self._waiting)

    async def _drain(self) -> None:
        try:
            await self._write_waiting()
        finally:  # no await between the last look at the queue and this
            task = asyncio.current_task()
            if task is not None:
                self._writing.discard(task)

    async def _write_waiting(self) -> None:
        while self._waiting:
            group = self._waiting[:GROUP_MOST]
            del self._waiting[:GROUP_MOST]
            try:
                found = await asyncio.to_thread(self.write, [asked for asked, _ in group])
            except Exception as exc:  # each request is tried again alone: see the module
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(group, found, strict=True):
                    if not future.done():
                        future.set_result(result)

    def write(self, group: Sequence[people.Leaving]) -> list[bool | None]:
        with writer(self.engine), transaction(self.sessions) as session:
            return people.unsubscribe_all(session, group)


@dataclass(slots=True)
class _Claim:
    """A request ``claim`` took; ``retry`` holds its body when its group failed."""

    subscriber_id: int
    payload: dict[str, object]
    retry: bytes | None = None


def _form_with_length(scope: Scope) -> bool:
    typed = sized = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            typed = value.split(b";", 1)[0].strip().lower() == _FORM
        elif name == b"content-length":
            sized = value.strip().isdigit() and int(value) <= FORM_LIMIT
    return typed and sized


class FastUnsubscribe:
    """Answers a one-click ``POST /u/{token}`` before FastAPI (see the module)."""

    def __init__(
        self,
        state: State,
        guards: Callable[[ASGIApp], ASGIApp],
        route: Callable[[Scope, Receive, Send], Awaitable[None]],
    ) -> None:
        self.state = state
        self.route = route
        self.writer = UnsubscribeWriter.for_engine(state.engine, state.sessions)
        self.app = guards(self._unsubscribe)
        self._page: tuple[float, bytes] | None = None

    def page(self) -> bytes:
        """The route's page, rendered again once ``EditedLoader.CHECK_EVERY`` has passed
        (when an edit of the template would be noticed anyway), not on every request."""
        now = monotonic()
        if self._page is None or now - self._page[0] >= EditedLoader.CHECK_EVERY:
            html = self.state.templates.get_template(PAGE).render(
                settings=self.state.settings.public()
            )
            self._page = (now, html.encode())
        return self._page[1]

    def claim(self, scope: Scope) -> bool:
        """True when this request is one it answers (then ``__call__`` it)."""
        if not scope["path"].startswith(PREFIX):
            return False
        token = scope["path"][len(PREFIX) :]
        if scope["method"] != "POST" or not token or "/" in token:
            return False
        if not _form_with_length(scope):
            return False
        try:
            payload = tokens.verify(self.state.settings.secret, links.UNSUBSCRIBE, token)
        except TokenError:
            return False  # the route answers with its page
        subscriber_id = payload.get("s")
        if not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool):
            return False
        scope[_CLAIMED] = _Claim(subscriber_id, payload)
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        claim: _Claim = scope[_CLAIMED]
        await self.app(scope, receive, send)
        if claim.retry is not None:
            await self.route(scope, _replay(claim.retry, receive), send)

    async def _unsubscribe(self, scope: Scope, receive: Receive, send: Send) -> None:
        claim: _Claim = scope[_CLAIMED]
        body = await _body(receive)
        if body is None:
            return  # the client went away before sending its form
        field = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        client = scope.get("client")
        agent = next((v for k, v in scope["headers"] if k == b"user-agent"), b"")
        asked = leaving(
            claim.subscriber_id,
            claim.payload,
            field.get("List-Unsubscribe", "")[:320],
            client[0] if client else "",
            agent.decode("latin-1"),
        )
        try:
            await self.writer.unsubscribe(asked)
        except Exception:
            claim.retry = body  # nothing sent yet: the route tries it alone
            return
        content = self.page()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(content)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` again, the body read already first."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
