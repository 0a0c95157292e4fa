"""The last opinion on a bounce in a format our rules do not read: GNU Mailman's detectors.

``flufl.bounce`` (Apache-2.0, kept up by Mailman's developers, typed, on Python 3.11
and later) knows dozens of historical formats (qmail, SMTP32, GroupWise, Yahoo's and
AOL's own, Sina...) that carry no status code. It is asked only after the RFC 3464
fields and the SMTP statuses and phrases in the text found nothing, and only whether
a failure is *permanent* or *temporary*: the addresses it finds are kept as evidence,
never used to decide whom a report is about (only our VERP token or Message-ID does).
"""

from __future__ import annotations

import email
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from flufl.bounce import all_failures

from newsletter.campaigns.bounces.parse import clean_address

log = logging.getLogger(__name__)

try:
    NAME = f"flufl.bounce {version('flufl.bounce')}"
except PackageNotFoundError:  # pragma: no cover - installed with the package
    NAME = "flufl.bounce"


_READ_LIMIT = 32 * 1024


@dataclass(frozen=True)
class Detection:
    failure: Literal["permanent", "temporary"]
    addresses: tuple[str, ...]  # as the detector read them, cleaned; evidence only


def detect(raw: bytes) -> Detection | None:
    """What flufl.bounce makes of the message, or None when no detector recognises it."""
    # The failure is told at the top; the rest is mostly the copy of our own message, and
    # the detectors' line-by-line patterns make a huge message slow (seconds per megabyte).
    msg = email.message_from_bytes(raw[:_READ_LIMIT])
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector tripping over odd input must not stop the whole run
        log.warning("%s could not read a message", NAME, exc_info=True)
        return None
    found = permanent or temporary
    if not found:
        return None
    addresses = sorted(
        {clean_address(a.decode("ascii", "replace")) for a in found} - {""}, key=str.lower
    )
    return Detection("permanent" if permanent else "temporary", tuple(addresses))
