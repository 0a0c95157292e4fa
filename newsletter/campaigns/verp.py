"""VERP return paths and stable Message-IDs, both naming a campaign and a subscriber.

A bounce comes back to ``bounces+c12-s345-<mac>@bounce.domain``; the HMAC makes the
token unforgeable, so nobody can get an address suppressed by sending us a fake bounce.
The token is lower-case base32 because some mail servers lower-case local parts.
The Message-ID is derived the same way, so a copy re-sent after a crash carries the
same Message-ID and receivers can drop the duplicate.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

from newsletter.config import Settings
from newsletter.macs import Mac

_MAC_BYTES = 10  # 80 bits of HMAC-SHA256: 16 characters of base32
_TOKEN = re.compile(r"bounces\+c(\d+)-s(\d+)-([a-z2-7]{16})@", re.IGNORECASE)
_MSGID = re.compile(r"<c(\d+)\.s(\d+)\.([a-z2-7]{16})@", re.IGNORECASE)


@dataclass(frozen=True)
class Recipient:
    """Which campaign and subscriber a bounce or a message belongs to."""

    campaign_id: int
    subscriber_id: int


# Every pair of lower-case base32 digits, for 10 bits at a time.
_PAIRS = tuple(
    a + b for a in "abcdefghijklmnopqrstuvwxyz234567" for b in "abcdefghijklmnopqrstuvwxyz234567"
)


def _base32(mac: bytes) -> str:
    """The 10 bytes as ``base64.b32encode(mac).decode().lower()`` writes them (16 digits,
    no padding), without its per-byte Python loop."""
    n = int.from_bytes(mac, "big")
    p = _PAIRS
    return (
        p[n >> 70]
        + p[n >> 60 & 1023]
        + p[n >> 50 & 1023]
        + p[n >> 40 & 1023]
        + p[n >> 30 & 1023]
        + p[n >> 20 & 1023]
        + p[n >> 10 & 1023]
        + p[n & 1023]
    )


@lru_cache(maxsize=256)
def _keyed(secret: bytes, purpose: str, campaign_id: int) -> Mac:
    """The HMAC after key, purpose and campaign: the same for every copy of a campaign."""
    return Mac(secret, f"{purpose}.{campaign_id}.".encode())


def _mac(secret: bytes, purpose: str, campaign_id: int, subscriber_id: int) -> str:
    digest = _keyed(secret, purpose, campaign_id).digest(str(subscriber_id).encode())
    return _base32(digest[:_MAC_BYTES])


def domain(settings: Settings) -> str:
    """The bounce domain: ``settings.bounce_domain`` or the sender's domain."""
    return settings.bounce_domain or settings.sender_address.rpartition("@")[2]


def return_path(settings: Settings, campaign_id: int, subscriber_id: int) -> str:
    mac = _mac(settings.secret, "verp", campaign_id, subscriber_id)
    return f"bounces+c{campaign_id}-s{subscriber_id}-{mac}@{domain(settings)}"


def message_id(settings: Settings, campaign_id: int, subscriber_id: int) -> str:
    """The same ``<...>`` Message-ID every time this recipient gets this campaign."""
    mac = _mac(settings.secret, "msgid", campaign_id, subscriber_id)
    host = settings.sender_address.rpartition("@")[2] or "localhost"
    return f"<c{campaign_id}.s{subscriber_id}.{mac}@{host}>"


def _check(settings: Settings, purpose: str, match: re.Match[str] | None) -> Recipient | None:
    if match is None:
        return None
    campaign_id, subscriber_id = int(match[1]), int(match[2])
    expected = _mac(settings.secret, purpose, campaign_id, subscriber_id)
    if not hmac.compare_digest(expected, match[3].lower()):
        return None
    return Recipient(campaign_id, subscriber_id)


def find_return_path(settings: Settings, text: str) -> Recipient | None:
    """The genuine VERP token anywhere in ``text`` (header values), else ``None``."""
    for match in _TOKEN.finditer(text):
        found = _check(settings, "verp", match)
        if found:
            return found
    return None


def find_message_id(settings: Settings, text: str) -> Recipient | None:
    """The campaign and subscriber behind one of our Message-IDs found in ``text``."""
    for match in _MSGID.finditer(text):
        found = _check(settings, "msgid", match)
        if found:
            return found
    return None
