"""How much a client may send: 64 KB for a form, 1 MB for Stripe's webhook, then 413.

Without a limit, thirty 1 MB bodies at once held 30 MB of a worker's memory for
forms that never exceed a few hundred bytes. A declared ``Content-Length`` over the
limit is refused before anything is read; a body sent without one (chunked) is
counted as it arrives and refused once it passes the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_LIMIT = 64 * 1024
WEBHOOK_LIMIT = 1024 * 1024
WEBHOOK_PATH = "/stripe/webhook"  # Stripe's events reach several hundred KB at most
TOO_LARGE = "The request is too large."


def limit_for(path: str) -> int:
    """The largest body ``path`` accepts, in bytes."""
    return WEBHOOK_LIMIT if path == WEBHOOK_PATH else FORM_LIMIT


class BodyTooLarge(HTTPException):
    """Raised from inside ``receive`` once a streamed body passes its limit."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


class BodyLimit:
    """ASGI middleware enforcing ``limit_for`` on every HTTP request body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            await PlainTextResponse(TOO_LARGE, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, counted, send)
