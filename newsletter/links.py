"""The URLs each recipient's copy carries, signed so nobody can act for someone else.

The public web app serves these paths:
``/u/<token>`` (one-click unsubscribe, RFC 8058), ``/preferences/<token>``,
``/confirm/<token>``, ``/donate?c=<campaign>&t=<token>``, ``/archive/<slug>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from newsletter import tokens
from newsletter.config import Settings

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"
DONATE = "donate"
CONFIRM_MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True)
class RecipientLinks:
    unsubscribe: str
    preferences: str
    donate: str
    browser: str


def archive_url(settings: Settings, slug: str) -> str:
    return f"{settings.public_base_url}/archive/{quote(slug)}"


def recipient_links(
    settings: Settings, *, subscriber_id: int, campaign_id: int | None, briefing_slug: str
) -> RecipientLinks:
    """Every personal URL for one recipient of one campaign (cheap: three HMACs)."""
    secret = settings.secret
    base = settings.public_base_url
    who = {"s": subscriber_id}
    unsub = tokens.sign(secret, UNSUBSCRIBE, {**who, "c": campaign_id})
    donate_query = {"t": tokens.sign(secret, DONATE, {**who, "c": campaign_id})}
    if campaign_id is not None:
        donate_query = {"c": str(campaign_id), **donate_query}
    return RecipientLinks(
        unsubscribe=f"{base}/u/{unsub}",
        preferences=preferences_url(settings, subscriber_id),
        donate=f"{base}/donate?{urlencode(donate_query)}",
        browser=archive_url(settings, briefing_slug),
    )


def preferences_url(settings: Settings, subscriber_id: int) -> str:
    token = tokens.sign(settings.secret, PREFERENCES, {"s": subscriber_id})
    return f"{settings.public_base_url}/preferences/{token}"


def confirm_url(settings: Settings, subscriber_id: int) -> str:
    token = tokens.sign(settings.secret, CONFIRM, {"s": subscriber_id})
    return f"{settings.public_base_url}/confirm/{token}"
