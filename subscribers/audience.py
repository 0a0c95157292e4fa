"""Who may be mailed: the one rule every send, preview and count asks.

A person may be sent a campaign when all of these hold:

- their status is ``active`` (confirmed, never unsubscribed, bounced or complained);
- they are on the campaign's list (``subscribed``);
- if the campaign was narrowed to a topic on purpose, they chose that topic too;
- if staff narrowed it to a private tag, they carry that tag;
- their address is not on the suppression list.

``may_be_mailed`` is that rule as one SQL condition. The preview count, the ledger's
snapshot of recipients, the re-check right before each copy goes out and the counts
of ``subscribers lists`` are all built from it, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, exists, func, select
from sqlalchemy.orm import Session

from subscribers import tags  # a module, not its names: tags imports lists, lists this
from subscribers.addresses import address_hash_sql
from subscribers.errors import Conflict, NotFound
from subscribers.models import MailingList, Status, Subscriber, Subscription, Suppression

_S = cast(Table, Subscriber.__table__)
_SUB = cast(Table, Subscription.__table__)
_SUP = cast(Table, Suppression.__table__)


@dataclass(frozen=True, slots=True)
class Audience:
    """Everyone on one list, or (narrowed on purpose) only those of them with one topic
    and/or one private tag."""

    list_id: int
    topic_id: int | None = None
    tag_id: int | None = None


def resolve(session: Session, list_ref: str, topic_ref: str | None = None) -> Audience:
    """The audience staff name on the command line; refuses a topic given as the list."""
    chosen = _find(session, list_ref)
    if chosen is None:
        raise NotFound(f"no list called {list_ref!r} (see `newsletter subscribers lists`)")
    if chosen.is_topic:
        raise Conflict(
            f"{chosen.name!r} is a topic, not a list: send to a list and narrow it "
            f"with --topic {chosen.slug!r}"
        )
    if not topic_ref:
        return Audience(chosen.id)
    topic = _find(session, topic_ref)
    if topic is None:
        raise NotFound(f"no topic called {topic_ref!r} (see `newsletter subscribers lists`)")
    if not topic.is_topic:
        raise Conflict(f"{topic.name!r} is a list, not a topic: --topic takes a topic")
    return Audience(chosen.id, topic.id)


def _find(session: Session, ref: str) -> MailingList | None:
    from subscribers import lists  # lists counts through this module

    return lists.find(session, ref)


def _on(list_id: int) -> ColumnElement[bool]:
    return exists().where(
        _SUB.c.subscriber_id == _S.c.id, _SUB.c.list_id == list_id, _SUB.c.subscribed.is_(True)
    )


def _rules(audience: Audience) -> dict[str, ColumnElement[bool]]:
    """Each condition of the rule by name; a person must meet every one."""
    rules = {
        "active": _S.c.status == Status.ACTIVE.value,
        "on_list": _on(audience.list_id),
        "not_suppressed": ~exists().where(_SUP.c.address_hash == address_hash_sql(_S.c.email_key)),
    }
    if audience.topic_id is not None:
        rules["on_topic"] = _on(audience.topic_id)
    if audience.tag_id is not None:
        tagged = cast(Table, tags.SubscriberTag.__table__)
        rules["tagged"] = exists().where(
            tagged.c.subscriber_id == _S.c.id, tagged.c.tag_id == audience.tag_id
        )
    return rules


def may_be_mailed(audience: Audience) -> ColumnElement[bool]:
    """The rule, as a condition on the ``subscribers`` table."""
    return and_(*_rules(audience).values())


def recipients(audience: Audience) -> Select[tuple[int, str, str]]:
    """Id, address and name of everyone who may be mailed, by id."""
    return select(_S.c.id, _S.c.email, _S.c.name).where(may_be_mailed(audience)).order_by(_S.c.id)


def count(db: Session | Connection, audience: Audience) -> int:
    """How many people may be mailed now: what a preview shows and a send snapshots."""
    query = select(func.count()).select_from(_S).where(may_be_mailed(audience))
    return int(db.scalar(query) or 0)


def refusals(
    db: Session | Connection, audience: Audience, subscriber_ids: Iterable[int]
) -> dict[int, str]:
    """Why each of these people may no longer be mailed; those who still may are absent.

    Asked right before copies go out, so an unsubscribe, bounce, complaint, list change
    or suppression that happened after a send started is honoured for the rest of it.
    """
    ids = list(dict.fromkeys(subscriber_ids))
    if not ids:
        return {}
    rules = _rules(audience)
    query = select(_S.c.id, _S.c.status, *(rule.label(name) for name, rule in rules.items()))
    found = {row.id: row for row in db.execute(query.where(_S.c.id.in_(ids)))}
    reasons: dict[int, str] = {}
    for sid in ids:
        row = found.get(sid)
        met = row._mapping if row is not None else {}
        if row is None:
            reasons[sid] = "subscriber no longer exists"
        elif not met["active"]:
            reasons[sid] = f"subscriber is now {row.status}"
        elif not met["on_list"]:
            reasons[sid] = "unsubscribed from the list"
        elif not met.get("on_topic", True):
            reasons[sid] = "no longer follows the topic"
        elif not met.get("tagged", True):
            reasons[sid] = "no longer carries the tag"
        elif not met["not_suppressed"]:
            reasons[sid] = "address is suppressed"
    return reasons


def counts(db: Session | Connection) -> dict[int, int]:
    """People who may be mailed on each list or topic, by its id (``subscribers lists``).

    For a list this is exactly ``count(db, Audience(list_id))``; for a topic, how many of
    the people who chose it may be mailed at all. One grouped query instead of one per
    list, built from the same person-level conditions as ``may_be_mailed``.
    """
    rules = _rules(Audience(0))
    del rules["on_list"]  # the join below is the membership
    query = (
        select(_SUB.c.list_id, func.count())
        .select_from(_SUB.join(_S, _S.c.id == _SUB.c.subscriber_id))
        .where(_SUB.c.subscribed.is_(True), *rules.values())
        .group_by(_SUB.c.list_id)
    )
    return {list_id: int(n) for list_id, n in db.execute(query)}
