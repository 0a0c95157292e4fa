"""``POST /stripe/webhook``: Stripe's signed events in, 2xx only once they are stored.

400 for anything that is not a genuine event for this account and mode (Stripe
stops retrying), 503 while no webhook secret is configured and 500 for any other
failure, so Stripe retries and nothing is lost. Receipts claimed with a new gift go
to the app's ``ReceiptCourier``: the answer never waits for the mail, the mail is
rendered and written in a helper process (``ProcessMailer``), and the courier
sends what is queued before the app shuts down. Both, and the processor, come from
``services.Donations`` as dependencies.

``FastWebhook`` answers the same deliveries in front of FastAPI (``PublicApp``):
the same ``answer`` behind the same guard middlewares, with errors the route would
leave to the app's exception handlers (413, a database outage's 503) given to those
same handlers, but none of the routing, dependency and exception layers a delivery
otherwise crosses.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from newsletter.config import Settings
from newsletter.database import lost
from newsletter.donations.receipts.background import ReceiptCourier
from newsletter.donations.webhook import (
    Result,
    WebhookProcessor,
    WebhookRejected,
    load,
    verify,
)
from newsletter.web import services, webhook_review
from newsletter.web.limits import WEBHOOK_PATH
from newsletter.web.services import Courier, Donations, Webhooks

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    donations: Donations = app.state.donations
    await run_in_threadpool(donations.close)


router = APIRouter(lifespan=_lifespan)


def _receive(request: Request, handler: WebhookProcessor, payload: bytes) -> Result | JSONResponse:
    """Verify, parse and apply one delivery, on one worker thread: the signature is
    checked and the JSON parsed once. A genuinely signed body no sane Stripe would send
    is refused with 400 and kept for review (an unsigned one is refused, not kept:
    nobody's junk fills the disk)."""
    signature = request.headers.get("stripe-signature")
    verify(payload, signature, handler.secrets, handler.tolerance)
    try:
        data = load(payload)
        reason = webhook_review.problem_in(data)
    except RecursionError:
        reason = webhook_review.NESTED_TOO_DEEPLY
    if reason is not None:
        settings: Settings = request.app.state.settings
        kept = webhook_review.keep(settings.webhook_review_dir, payload, signature or "", reason)
        log.warning("signed Stripe event refused (%s), kept for review in %s", reason, kept)
        return JSONResponse({"error": f"not a Stripe event: {reason}"}, status_code=400)
    return handler.accept(data, receipts=False)


@router.post(WEBHOOK_PATH)
async def stripe_webhook(request: Request, handler: Webhooks, courier: Courier) -> JSONResponse:
    return await answer(request, handler, courier)


async def answer(
    request: Request, handler: WebhookProcessor | None, courier: ReceiptCourier
) -> JSONResponse:
    """The answer to one delivery, for the route and ``FastWebhook`` alike: 2xx only
    once it is stored. A lost database (and a body over the limit) is raised, for the
    app's exception handlers."""
    if handler is None:
        return JSONResponse({"error": "webhook secret not configured"}, status_code=503)
    payload = await request.body()
    try:
        result = await run_in_threadpool(_receive, request, handler, payload)
    except WebhookRejected as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    except Exception as exc:
        if lost(exc):  # the database is away: 503 with Retry-After (web/outage.py)
            raise
        log.exception("Stripe event not applied; Stripe will retry")
        return JSONResponse({"error": "not processed"}, status_code=500)
    if isinstance(result, JSONResponse):
        return result
    if result.receipts:
        courier.put(result.receipts)
    return JSONResponse(
        {"received": True, "duplicate": result.duplicate, "outcome": result.outcome}
    )


# A test's override of any of these is honoured: such requests take the route.
_DEPENDENCIES = (services.donations, services.stripe_webhooks, services.receipt_courier)


class FastWebhook:
    """Answers ``POST /stripe/webhook`` before FastAPI, through ``guards`` (the same
    client-address, security-header and body-limit middlewares as every request)."""

    def __init__(self, app: FastAPI, guards: Callable[[ASGIApp], ASGIApp]) -> None:
        self.fastapi = app
        self.app = guards(self._answer)

    def claim(self, scope: Scope) -> bool:
        """True for a delivery it answers (then ``__call__`` it)."""
        overrides = self.fastapi.dependency_overrides
        return (
            scope["method"] == "POST"
            and scope["path"] == WEBHOOK_PATH
            and not any(d in overrides for d in _DEPENDENCIES)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.fastapi  # as Starlette sets it: ``request.app`` is read
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        donations: Donations = self.fastapi.state.donations
        response: Response
        try:
            response = await answer(request, donations.webhooks, donations.courier)
        except Exception as exc:
            # What the route raises goes to the app's handler for it, as through FastAPI
            # (none found: raised on, and the server answers 500).
            handlers = self.fastapi.exception_handlers
            kind = next((k for k in type(exc).__mro__ if k in handlers), None)
            if kind is None:
                raise
            handled = handlers[kind](request, exc)
            response = await handled if inspect.isawaitable(handled) else handled
        await response(scope, receive, send)
