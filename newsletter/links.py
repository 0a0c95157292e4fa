"""The URLs each recipient's copy carries, signed so nobody can act for someone else.

The public web app serves these paths:
``/u/<token>`` (one-click unsubscribe, RFC 8058), ``/preferences/<token>``,
``/confirm/<token>``, ``/donate?c=<campaign>&t=<token>``, ``/archive/<slug>``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

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
    return _archive(settings.public_base_url, slug)


@lru_cache(maxsize=64)
def _archive(base: str, slug: str) -> str:
    """Quoted once per campaign: every copy of it carries the same archive link."""
    return f"{base}/archive/{quote(slug)}"


# The payloads are written here as ``tokens.sign`` writes them (compact JSON, keys
# sorted), so the tokens are byte for byte the ones readers already hold:
# '{"c":<campaign or null>,"iat":<issued>,"s":<subscriber>}' and '{"iat":..,"s":..}'.


def _reader(subscriber_id: int) -> str:
    """The payload's tail naming the reader, issued now."""
    return f'"iat":{int(time.time())},"s":{int(subscriber_id)}}}'


def recipient_links(
    settings: Settings, *, subscriber_id: int, campaign_id: int | None, briefing_slug: str
) -> RecipientLinks:
    """Every personal URL for one recipient of one campaign (cheap: three HMACs)."""
    secret = settings.secret
    base = settings.public_base_url
    reader = _reader(subscriber_id)
    if campaign_id is None:
        payload, donate_query = f'{{"c":null,{reader}', ""
    else:
        payload, donate_query = f'{{"c":{int(campaign_id)},{reader}', f"c={int(campaign_id)}&"
    # A token is base64url and ".": nothing in it to quote in a query string.
    donate = tokens.sign_encoded(secret, DONATE, payload)
    return RecipientLinks(
        unsubscribe=f"{base}/u/{tokens.sign_encoded(secret, UNSUBSCRIBE, payload)}",
        preferences=f"{base}/preferences/{tokens.sign_encoded(secret, PREFERENCES, '{' + reader)}",
        donate=f"{base}/donate?{donate_query}t={donate}",
        browser=_archive(base, briefing_slug),
    )


def preferences_url(settings: Settings, subscriber_id: int) -> str:
    token = tokens.sign_encoded(settings.secret, PREFERENCES, "{" + _reader(subscriber_id))
    return f"{settings.public_base_url}/preferences/{token}"


def confirm_url(settings: Settings, subscriber_id: int) -> str:
    token = tokens.sign_encoded(settings.secret, CONFIRM, "{" + _reader(subscriber_id))
    return f"{settings.public_base_url}/confirm/{token}"
