"""Topics: interests inside a list ("Ukraine", "Arms control").

A topic never takes a reader off a list and never puts one on it; it says what a
reader cares about, and a campaign may be narrowed to it on purpose (``--topic``).
A public topic is offered on the subscribe form and in the preference centre; a
hidden one (``public=False``) is kept for staff, e.g. interests brought in by an
import. See docs/audience.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from subscribers import lists
from subscribers.errors import Conflict, NotFound
from subscribers.models import Kind, MailingList, Subscription


def find(session: Session, ref: str) -> MailingList | None:
    """The topic whose name or slug is ``ref`` (case-insensitive); None if no topic has it."""
    found = lists.find(session, ref)
    return found if found is not None and found.is_topic else None


def get(session: Session, ref: str) -> MailingList:
    """The topic ``ref``; raises ``NotFound``, or ``Conflict`` when ``ref`` is a list."""
    found = lists.find(session, ref)
    if found is None:
        raise NotFound(f"no topic called {ref!r} (see `newsletter subscribers lists`)")
    if not found.is_topic:
        raise Conflict(f"{found.name!r} is a list, not a topic")
    return found


def create(
    session: Session, name: str, *, public: bool = True, description: str = ""
) -> MailingList:
    return lists.create(session, name, description, kind=Kind.TOPIC, public=public)


def ensure(session: Session, name: str, *, public: bool = True) -> MailingList:
    """The topic called ``name``, created (public or hidden) if it does not exist yet.

    An existing topic is returned as it is: whether staff published it is theirs to
    say, not the caller's. A list of that name is refused.
    """
    found = lists.find(session, name)
    if found is None:
        return create(session, name, public=public)
    if not found.is_topic:
        raise Conflict(f"{found.name!r} is a list, not a topic")
    return found


def public_topics(session: Session) -> list[MailingList]:
    """What the subscribe form and preference centre offer: public, not archived, by name."""
    query = (
        select(MailingList)
        .where(
            MailingList.kind == Kind.TOPIC,
            MailingList.public.is_(True),
            MailingList.archived.is_(False),
        )
        .order_by(MailingList.name)
    )
    return list(session.scalars(query))


def publish(session: Session, ref: str, *, public: bool = True) -> MailingList:
    """Show a topic on the public forms (or hide it with ``public=False``)."""
    found = lists.get(session, ref)
    if not found.is_topic:
        raise Conflict(
            f"{found.name!r} is a list: lists are never offered on the form "
            "(every sign-up joins the default list); only topics can be published"
        )
    found.public = public
    session.flush()
    return found


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic as a briefing names it: by ``name`` or ``slug``."""

    id: int
    name: str
    slug: str


def current(db: Session | Connection) -> list[Topic]:
    """Every topic not archived, public or hidden, by name: what sections may carry."""
    query = (
        select(MailingList.id, MailingList.name, MailingList.slug)
        .where(MailingList.kind == Kind.TOPIC, MailingList.archived.is_(False))
        .order_by(MailingList.name)
    )
    return [Topic(*row) for row in db.execute(query)]


def chosen_by(
    db: Session | Connection, subscriber_ids: Iterable[int]
) -> dict[int, tuple[int, ...]]:
    """The topics (ids) each of these people follows; people with none are absent.

    One query for a whole batch of recipients, so composing copies never asks per reader.
    """
    ids = list(dict.fromkeys(subscriber_ids))
    if not ids:
        return {}
    query = (
        select(Subscription.subscriber_id, Subscription.list_id)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(
            Subscription.subscriber_id.in_(ids),
            Subscription.subscribed.is_(True),
            MailingList.kind == Kind.TOPIC,
        )
        .order_by(Subscription.subscriber_id, Subscription.list_id)
    )
    out: dict[int, list[int]] = {}
    for subscriber_id, topic_id in db.execute(query):
        out.setdefault(subscriber_id, []).append(topic_id)
    return {sid: tuple(topic_ids) for sid, topic_ids in out.items()}
