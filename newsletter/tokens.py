"""HMAC-signed, purpose-bound tokens for links in emails and forms.

A token is ``base64url(json payload) "." base64url(hmac)``. The HMAC covers the
purpose too, so an unsubscribe token can never be replayed as a confirmation token.
Pure functions: the clock is a parameter so tests can move it.
"""

from __future__ import annotations

import binascii
import hmac
import json
import time
from functools import lru_cache
from typing import Any

from newsletter.errors import TokenError
from newsletter.macs import Mac

_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_DECODER = json.JSONDecoder()
_SIG_BYTES = 16  # 128-bit truncated HMAC-SHA256: unforgeable and short enough for URLs
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    """Unpadded base64url, byte for byte what ``base64.urlsafe_b64encode`` writes, in C."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


_FROM_URLSAFE = str.maketrans("-_", "+/")


def _unb64(text: str) -> bytes:
    """``base64.urlsafe_b64decode`` of unpadded text, without its layers of conversion
    (every click decodes two of these): characters outside the alphabet are dropped
    as there, a non-ASCII one is a ``ValueError``."""
    return binascii.a2b_base64(text.translate(_FROM_URLSAFE) + "=" * (-len(text) % 4))


@lru_cache(maxsize=64)
def _keyed(secret: bytes, purpose: str) -> Mac:
    """The HMAC state after key and purpose: copied per token, so a campaign keys it once."""
    return Mac(secret, f"{purpose}.".encode())


def _mac(secret: bytes, purpose: str, body: str) -> bytes:
    return _keyed(secret, purpose).digest(body.encode())[:_SIG_BYTES]


def sign(secret: bytes, purpose: str, payload: dict[str, Any], *, now: float | None = None) -> str:
    """Sign ``payload`` for ``purpose``; the issue time is stored as ``iat``."""
    data = dict(payload)
    data["iat"] = int(time.time() if now is None else now)
    body = _b64(_ENCODER.encode(data).encode())
    return f"{body}.{_b64(_mac(secret, purpose, body))}"


def verify(
    secret: bytes,
    purpose: str,
    token: str,
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the payload, or raise ``TokenError`` if forged, expired or for another purpose."""
    try:
        body, sig = token.split(".", 1)
        given = _unb64(sig)
    except (ValueError, TypeError) as exc:
        raise TokenError("this link is incomplete or damaged") from exc
    if not hmac.compare_digest(given, _mac(secret, purpose, body)):
        raise TokenError("this link is not valid")
    try:  # the signed text is ours, compact JSON: ``raw_decode`` skips what ``loads`` adds
        text = _unb64(body).decode()
        payload, end = _DECODER.raw_decode(text)
    except ValueError as exc:
        raise TokenError("this link is damaged") from exc
    if end != len(text) or not isinstance(payload, dict):
        raise TokenError("this link is damaged")
    if max_age is not None:
        issued = float(payload.get("iat", 0))
        if (time.time() if now is None else now) - issued > max_age:
            raise TokenError("this link has expired")
    return payload


def sign_encoded(secret: bytes, purpose: str, payload_json: str) -> str:
    """Sign a payload already written as compact JSON (with its ``iat``): for hot paths
    that sign many tokens of one shape, such as every tracked link of every copy.

    The JSON must be what ``sign`` writes (keys sorted, no spaces) for the same token."""
    body = _b64(payload_json.encode())
    return f"{body}.{_b64(_mac(secret, purpose, body))}"
