"""Reading ``--at``: a bare time is in the organisation's zone; the past is a mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.campaigns.sendtime import BadTime, local, parse, resolve

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)  # the injected clock


@pytest.mark.parametrize(
    ("text", "zone", "utc"),
    [
        ("2027-01-14T09:00", LONDON, datetime(2027, 1, 14, 9, 0, tzinfo=UTC)),  # GMT
        ("2027-07-01 09:00", LONDON, datetime(2027, 7, 1, 8, 0, tzinfo=UTC)),  # BST
        ("2027-07-01 9:00", LONDON, datetime(2027, 7, 1, 8, 0, tzinfo=UTC)),
        ("2027-07-01T09:00", NEW_YORK, datetime(2027, 7, 1, 13, 0, tzinfo=UTC)),  # EDT
        ("2027-07-01T09:00+02:00", NEW_YORK, datetime(2027, 7, 1, 7, 0, tzinfo=UTC)),
        ("2027-07-01T09:00Z", LONDON, datetime(2027, 7, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_bare_time_is_read_in_the_zone_and_an_offset_is_kept(
    text: str, zone: ZoneInfo, utc: datetime
) -> None:
    assert parse(text, zone) == utc


def test_times_are_printed_back_in_the_zone_with_its_abbreviation() -> None:
    assert local(datetime(2027, 7, 1, 8, 0, tzinfo=UTC), LONDON) == "2027-07-01 09:00 BST"
    assert local(datetime(2027, 1, 14, 9, 0, tzinfo=UTC), LONDON) == "2027-01-14 09:00 GMT"


def test_a_time_in_the_past_is_refused_unless_now_is_given() -> None:
    with pytest.raises(BadTime) as refused:
        resolve("2026-12-03T10:59", now_flag=False, zone=LONDON, now=NOW)
    message = str(refused.value)
    assert "2026-12-03 10:59 GMT is in the past" in message and "--now" in message
    assert "\n" not in message
    assert resolve("2026-12-03T10:59", now_flag=True, zone=LONDON, now=NOW) is None
    assert resolve("2026-12-03T11:01", now_flag=False, zone=LONDON, now=NOW) == datetime(
        2026, 12, 3, 11, 1, tzinfo=UTC
    )
    assert resolve(None, now_flag=False, zone=LONDON, now=NOW) is None


def test_the_same_wall_time_is_past_in_one_zone_and_future_in_another() -> None:
    """11:30 on 3 December is past in London (now 11:00 GMT) but not yet in New York."""
    with pytest.raises(BadTime):
        resolve("2026-12-03T10:30", now_flag=False, zone=LONDON, now=NOW)
    later = resolve("2026-12-03T10:30", now_flag=False, zone=NEW_YORK, now=NOW)
    assert later == datetime(2026, 12, 3, 15, 30, tzinfo=UTC)


def test_now_with_a_future_time_contradicts_itself() -> None:
    with pytest.raises(BadTime, match="give only one"):
        resolve("2026-12-04T09:00", now_flag=True, zone=LONDON, now=NOW)


@pytest.mark.parametrize("text", ["tomorrow", "2026-12-04", "2026-13-01T09:00", "09:00"])
def test_what_is_not_a_date_and_time_is_refused(text: str) -> None:
    with pytest.raises(BadTime, match="not a date and time"):
        parse(text, LONDON)


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(BadTime, match="does not exist in Europe/London"):
        parse("2027-03-28T01:30", LONDON)
