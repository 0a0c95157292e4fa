"""``POST /stripe/webhook``: Stripe's signed events in, 2xx only once they are stored.

400 for anything that is not a genuine event for this account and mode (Stripe
stops retrying), 503 while no webhook secret is configured and 500 for any other
failure, so Stripe retries and nothing is lost. Receipts claimed with a new gift go
to the app's ``ReceiptCourier``: the answer never waits for the mail, the mail is
rendered and written in a helper process (``ProcessMailer``), and the courier
sends what is queued before the app shuts down. Both, and the processor, come from
``services.Donations`` as dependencies.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.database import lost
from newsletter.donations.webhook import (
    Result,
    WebhookProcessor,
    WebhookRejected,
    load,
    verify,
)
from newsletter.web import webhook_review
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


@router.post("/stripe/webhook")
async def stripe_webhook(request: Request, handler: Webhooks, courier: Courier) -> JSONResponse:
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
