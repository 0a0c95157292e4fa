"""CSRF protection for forms without server-side sessions.

The page sets a random cookie and puts ``HMAC(secret, cookie)`` in a hidden field;
a POST is accepted only when the two match. Another site can neither read the
cookie nor compute the field, and no login is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from newsletter.errors import TokenError

COOKIE = "nl_csrf"
FIELD = "csrf_token"


def _mac(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, f"csrf.{nonce}".encode(), hashlib.sha256).hexdigest()


def issue(request: Request, response: Response, secret: bytes) -> str:
    """The hidden-field value for a form; sets the cookie when the browser has none."""
    nonce = request.cookies.get(COOKIE) or ""
    if len(nonce) < 16:
        nonce = secrets.token_urlsafe(24)
    response.set_cookie(COOKIE, nonce, httponly=True, samesite="lax", max_age=7 * 24 * 3600)
    return _mac(secret, nonce)


def check(request: Request, submitted: str | None, secret: bytes) -> None:
    """Raise ``TokenError`` unless the form's field matches the browser's cookie."""
    nonce = request.cookies.get(COOKIE)
    if not nonce or not submitted or not hmac.compare_digest(_mac(secret, nonce), submitted):
        raise TokenError("the form has expired; please reload the page and try again")
