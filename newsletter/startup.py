"""What must be true before a command faces the public: real secrets.

The demo secret is in the source code, so anyone could sign its tokens and
unsubscribe any reader or open their preferences. A short secret can be guessed
offline from one link. And Stripe keys without a webhook secret take money that
is never recorded. On a loopback address (the demo, a developer's machine)
nobody else can reach the links, so the demo values are allowed there.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.errors import ConfigError

MIN_SECRET_BYTES = 32
MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine only (127.0.0.0/8, ::1, localhost)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def problem(settings: Settings) -> str | None:
    """The one-line reason ``settings`` must not serve the public, or None."""
    if is_loopback(settings.public_base_url):
        return None
    where = f"NEWSLETTER_PUBLIC_BASE_URL is {settings.public_base_url}"
    secret = settings.secret_key.get_secret_value()
    if settings.uses_demo_secret:
        return (
            f"NEWSLETTER_SECRET_KEY is the demo value and {where}; anyone could forge "
            f"reader links. Make a secret with: {MAKE_ONE}"
        )
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return (
            f"NEWSLETTER_SECRET_KEY is {len(secret.encode())} bytes, fewer than "
            f"{MIN_SECRET_BYTES}, and {where}. Make a secret with: {MAKE_ONE}"
        )
    if settings.stripe_secret_key is not None and settings.stripe_webhook_secret is None:
        return (
            "NEWSLETTER_STRIPE_SECRET_KEY is set without NEWSLETTER_STRIPE_WEBHOOK_SECRET, so "
            "gifts would be taken but never recorded; copy the signing secret (whsec_...) of "
            "the webhook endpoint from Stripe's dashboard"
        )
    return None


def refuse_unsafe(settings: Settings) -> None:
    """Raise ``ConfigError`` when ``settings`` must not serve the public."""
    reason = problem(settings)
    if reason is not None:
        raise ConfigError(reason)
