"""When a campaign goes out: reading ``--at`` in the organisation's time zone, and the rule
that a time in the past is a mistake unless staff say "now".

Pure functions over an injected ``now``: staff type local times ("Thursday 9 am"), so a bare
time is read in ``NEWSLETTER_TIMEZONE``, never in the server's zone or in UTC, and every
time is printed back in that zone with its abbreviation (GMT/BST) so nobody has to guess.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from newsletter.errors import NewsletterError

EXAMPLE = "2026-12-01T09:00"
_ONE_DIGIT_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ])(\d:)", re.IGNORECASE)  # "... 9:00"


class BadTime(NewsletterError, ValueError):
    """A ``--at`` value that is not a date and time, or one that cannot mean what it says."""


def parse(text: str, zone: tzinfo) -> datetime:
    """``text`` as an aware UTC datetime: ISO 8601 with an offset (``...+01:00``, ``...Z``)
    as given, or a bare local time (``2026-12-01 09:00``) read in ``zone``."""
    raw = text.strip()
    try:
        if "T" not in raw.upper() and " " not in raw:
            raise ValueError("no time of day")
        when = datetime.fromisoformat(_ONE_DIGIT_HOUR.sub(r"\g<1>0\g<2>", raw))
    except ValueError:
        raise BadTime(
            f"--at {text!r} is not a date and time; write it like {EXAMPLE} "
            f"(read in {_name(zone)}) or {EXAMPLE}+01:00"
        ) from None
    if when.tzinfo is not None:
        return when.astimezone(UTC)
    local = when.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != when:
        raise BadTime(
            f"--at {text!r} does not exist in {_name(zone)} (the clocks go forward then); "
            "give a time outside the change"
        )
    return local.astimezone(UTC)


def resolve(at: str | None, *, now_flag: bool, zone: tzinfo, now: datetime) -> datetime | None:
    """When to send: None for "at once", else a future UTC time.

    A time already past is refused (a typo in the date would otherwise mail everyone at
    once) unless ``now_flag`` says to send at once anyway; ``now_flag`` with a future time
    contradicts itself and is refused too.
    """
    if at is None:
        return None
    when = parse(at, zone)
    if when > now:
        if now_flag:
            raise BadTime(
                f"--now sends at once, but --at {local(when, zone)} is later; give only one"
            )
        return when
    if now_flag:
        return None
    raise BadTime(
        f"--at {local(when, zone)} is in the past (it is now {local(now, zone)}); "
        "give a later time, or add --now to send at once"
    )


def local(when: datetime, zone: tzinfo) -> str:
    """``2026-12-01 09:00 GMT``: a time as staff read it, in their zone."""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)
