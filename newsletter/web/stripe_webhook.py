"""``POST /stripe/webhook``: Stripe's signed events in, 2xx only once they are stored.

400 for anything that is not a genuine event for this account and mode (Stripe
stops retrying), 503 while no webhook secret is configured and 500 for any other
failure, so Stripe retries and nothing is lost.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.donations.mailer import DonorMailer
from newsletter.donations.webhook import WebhookProcessor, WebhookRejected, processor_for

router = APIRouter()
log = logging.getLogger(__name__)


def processor(request: Request) -> WebhookProcessor | None:
    """The app's processor, built once; None until a webhook secret is configured."""
    state = request.app.state
    if not hasattr(state, "stripe_webhooks"):
        settings: Settings = state.settings
        state.stripe_webhooks = processor_for(settings, state.sessions, DonorMailer(settings))
    found: WebhookProcessor | None = state.stripe_webhooks
    return found


@router.post("/stripe/webhook")
async def stripe_webhook(request: Request) -> JSONResponse:
    handler = processor(request)
    if handler is None:
        return JSONResponse({"error": "webhook secret not configured"}, status_code=503)
    payload = await request.body()
    try:
        result = await run_in_threadpool(
            handler.handle, payload, request.headers.get("stripe-signature"), receipts=False
        )
    except WebhookRejected as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    except Exception:
        log.exception("Stripe event not applied; Stripe will retry")
        return JSONResponse({"error": "not processed"}, status_code=500)
    return JSONResponse(
        {"received": True, "duplicate": result.duplicate, "outcome": result.outcome},
        background=BackgroundTask(handler.send_receipts, result) if result.receipts else None,
    )
