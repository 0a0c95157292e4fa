"""The append-only consent log: what a person agreed to or withdrew, when, and how.

Rows are only ever added. The one exception is erasure, which blanks the IP
address and user agent of that person's rows (personal data) but keeps the rows
themselves as evidence that consent existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from subscribers.models import ConsentEvent
from subscribers.orm import utcnow

SUBSCRIBE = "subscribe"  # asked through a form; not yet confirmed
CONFIRM = "confirm"  # clicked the confirmation button (double opt-in)
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
STAFF_ADD = "staff-add"
IMPORT = "import"
REACTIVATE = "reactivate"
ERASE = "erase"
JOIN_DEFAULT = "join-default-list"  # the upgrade that put web sign-ups on no list on it
STAFF_LISTS = "staff-lists"  # staff put a person on a list or topic, or took them off


@dataclass(frozen=True, slots=True)
class Context:
    """Where an action came from: the form or command, its wording, the requester's IP and UA."""

    form: str
    wording: str = ""
    ip: str = ""
    user_agent: str = ""


def record(
    session: Session,
    subscriber_id: int | None,
    action: str,
    context: Context,
    lists: Iterable[str] = (),
) -> ConsentEvent:
    """Append one event; ``lists`` names the lists or topics it concerned."""
    event = ConsentEvent(**entry(subscriber_id, action, context, lists))
    session.add(event)
    return event


def entry(
    subscriber_id: int | None, action: str, context: Context, lists: Iterable[str] = ()
) -> dict[str, Any]:
    """The row of one event, as ``record`` and ``record_all`` write it."""
    return {
        "subscriber_id": subscriber_id,
        "action": action,
        "lists": sorted(lists),
        "at": utcnow(),
        "ip": context.ip[:64],
        "user_agent": context.user_agent[:400],
        "form": context.form[:100],
        "wording": context.wording,
    }


def record_all(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Append many events (each made by ``entry``) in one multi-row INSERT: a batch
    of one-click unsubscribes writes its consent rows at once."""
    if entries:
        session.execute(insert(ConsentEvent).values(list(entries)))


def history(session: Session, subscriber_id: int) -> list[ConsentEvent]:
    """Every event of one person, oldest first."""
    query = (
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .order_by(ConsentEvent.at, ConsentEvent.id)
    )
    return list(session.scalars(query))


def anonymise(session: Session, subscriber_id: int) -> None:
    """Blank the personal data in one person's events (used by erasure)."""
    session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber_id)
        .values(ip="", user_agent="")
    )
