"""Which subscriber a gift is from: the one our form named while they still exist, else
whoever has the donor's address. Built as scalar subqueries so the statement that
already touches the intent or the monthly gift answers it too (one round trip less
per gift on the webhook's busy path)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Table, func, select

from newsletter.donations.returning import Returned, returned
from subscribers.models import Subscriber

SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
_DONOR = SUBSCRIBERS.alias("donor")  # the outer statement may name subscribers too


def email_key(email: str) -> str | None:
    """``email`` compared the way ``email_key`` is stored; None when there is none."""
    return email.strip().lower() or None


def by_address(key: ColumnElement[Any], outer: FromClause | None = None) -> Returned:
    """The subscriber whose ``email_key`` is ``key`` (in a statement writing ``outer``)."""
    return returned(select(_DONOR.c.id).where(_DONOR.c.email_key == key), outer)


def named_or_by_address(
    subscriber_id: ColumnElement[Any], key: ColumnElement[Any], outer: FromClause | None = None
) -> ColumnElement[Any]:
    """``subscriber_id`` if that subscriber still exists, else the one whose address is
    ``key`` (in a statement writing ``outer``)."""
    named = returned(select(_DONOR.c.id).where(_DONOR.c.id == subscriber_id), outer)
    return func.coalesce(named, by_address(key, outer))
