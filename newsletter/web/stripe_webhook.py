"""Routes: stripe_webhook."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
