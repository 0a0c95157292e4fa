"""Export: the list as CSV (streamed), and everything held about one person as JSON.

The CSV uses the importer's own columns, so an export can be imported elsewhere;
by default only active people are exported, so a copy of the list can never bring
back someone who left. Cells a spreadsheet would run as formulas get a leading
``'`` (see ``csvfile.spreadsheet_safe``), which the importer takes off again.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers import consent, suppression, tags
from subscribers.addresses import normalise
from subscribers.csvfile import spreadsheet_safe
from subscribers.models import MailingList, Status, Subscriber, Subscription

HEADER = ["email", "name", "language", "topics", "status", "created_at", "confirmed_at", "tags"]
"""Our own export's columns; the importer recognises them (``formats.NEWSLETTER``). Tags
are private to staff, and so is this file."""


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def export_csv(
    session: Session,
    out: Path,
    *,
    mailing_list: MailingList | None = None,
    status: Status | None = Status.ACTIVE,
    tag: tags.Tag | None = None,
) -> int:
    """Write people (``status`` None: everyone; ``tag``: only those with it) to ``out``;
    returns how many rows."""
    query = select(Subscriber).order_by(Subscriber.id)
    if status is not None:
        query = query.where(Subscriber.status == status)
    if mailing_list is not None:
        query = query.join(Subscription, Subscription.subscriber_id == Subscriber.id).where(
            Subscription.list_id == mailing_list.id, Subscription.subscribed.is_(True)
        )
    if tag is not None:
        query = query.join(
            tags.SubscriberTag, tags.SubscriberTag.subscriber_id == Subscriber.id
        ).where(tags.SubscriberTag.tag_id == tag.id)
    count = 0
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for partition in session.scalars(query.execution_options(yield_per=2000)).partitions():
            ids = [p.id for p in partition]
            topics, labels = _topics(session, ids), tags.of(session, ids)
            for person in partition:
                row = [
                    person.email,
                    person.name,
                    person.language,
                    ";".join(topics.get(person.id, [])),
                    person.status,
                    _iso(person.created_at),
                    _iso(person.confirmed_at),
                    ";".join(labels.get(person.id, [])),
                ]
                writer.writerow([spreadsheet_safe(cell) for cell in row])
                count += 1
    return count


def _topics(session: Session, ids: list[int]) -> dict[int, list[str]]:
    query = (
        select(Subscription.subscriber_id, MailingList.name)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id.in_(ids), Subscription.subscribed.is_(True))
        .order_by(MailingList.name)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for sid, name in session.execute(query):
        found[sid].append(name)
    return found


def person_record(session: Session, address: str) -> dict[str, Any]:
    """Everything held about one address (the right of access), ready for ``json.dumps``.

    Also answers for an erased or never-known address: then only the suppression
    entry, if any, is held.
    """
    key = normalise(address).key
    entry = suppression.find(session, key)
    held: dict[str, Any] = {
        "address": address.strip(),
        "suppressed": (
            {"reason": entry.reason, "since": _iso(entry.created_at)} if entry else None
        ),
    }
    person = session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    if person is None:
        held["subscriber"] = None
        return held
    subscriptions = session.execute(
        select(MailingList.name, Subscription.subscribed, Subscription.updated_at)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == person.id)
        .order_by(MailingList.name)
    )
    held["subscriber"] = {
        "id": person.id,
        "email": person.email,
        "name": person.name,
        "language": person.language,
        "status": person.status,
        "source": person.source,
        "created_at": _iso(person.created_at),
        "confirmed_at": _iso(person.confirmed_at),
        "updated_at": _iso(person.updated_at),
    }
    held["tags"] = tags.of(session, [person.id]).get(person.id, [])
    held["subscriptions"] = [
        {"list": name, "subscribed": subscribed, "updated_at": _iso(updated)}
        for name, subscribed, updated in subscriptions
    ]
    held["consent"] = [
        {
            "action": event.action,
            "lists": event.lists,
            "at": _iso(event.at),
            "ip": event.ip,
            "user_agent": event.user_agent,
            "form": event.form,
            "wording": event.wording,
        }
        for event in consent.history(session, person.id)
    ]
    return held
