"""Lists and topics ("All briefings", "Ukraine"): create, find, rename, archive.

A list is found by its name or its slug, case-insensitively, so staff and CSV
files may write "ukraine", "Ukraine" or "UKRAINE".
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers.errors import Conflict, NotFound
from subscribers.models import MailingList, Status, Subscriber, Subscription
from subscribers.orm import utcnow


def slugify(name: str) -> str:
    """ASCII, lower case, hyphens: "Nuclear weapons" -> "nuclear-weapons"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:100]


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or not slugify(name):
        raise Conflict("a list needs a name with at least one letter or digit")
    if len(name) > 200:
        raise Conflict("a list name may have at most 200 characters")
    return name


def find(session: Session, ref: str) -> MailingList | None:
    """The list whose name or slug is ``ref`` (case-insensitive), or None."""
    slug = slugify(ref)
    if not slug:
        return None
    return session.scalar(select(MailingList).where(MailingList.slug == slug))


def get(session: Session, ref: str) -> MailingList:
    found = find(session, ref)
    if found is None:
        raise NotFound(f"no list called {ref!r} (see `newsletter subscribers lists`)")
    return found


def create(session: Session, name: str, description: str = "") -> MailingList:
    name = _clean_name(name)
    if find(session, name) is not None:
        raise Conflict(f"a list called {name!r} already exists")
    mailing_list = MailingList(
        slug=slugify(name), name=name, description=description, archived=False, created_at=utcnow()
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def ensure(session: Session, name: str) -> MailingList:
    """The list called ``name``, created if it does not exist yet."""
    return find(session, name) or create(session, name)


def rename(session: Session, ref: str, new_name: str) -> MailingList:
    mailing_list = get(session, ref)
    new_name = _clean_name(new_name)
    other = find(session, new_name)
    if other is not None and other.id != mailing_list.id:
        raise Conflict(f"a list called {new_name!r} already exists")
    mailing_list.name = new_name
    mailing_list.slug = slugify(new_name)
    session.flush()
    return mailing_list


def archive(session: Session, ref: str, *, archived: bool = True) -> MailingList:
    """Hide a list from forms and new imports; its subscriptions are kept."""
    mailing_list = get(session, ref)
    mailing_list.archived = archived
    session.flush()
    return mailing_list


def all_lists(session: Session, *, include_archived: bool = False) -> list[MailingList]:
    query = select(MailingList).order_by(MailingList.name)
    if not include_archived:
        query = query.where(MailingList.archived.is_(False))
    return list(session.scalars(query))


def active_counts(session: Session) -> dict[int, int]:
    """Active, subscribed people per list id."""
    query = (
        select(Subscription.list_id, func.count())
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(Subscription.subscribed.is_(True), Subscriber.status == Status.ACTIVE)
        .group_by(Subscription.list_id)
    )
    return {list_id: count for list_id, count in session.execute(query)}
