"""Tags: staff's private labels on people ("Donor", "Board"), never shown to them.

Unlike lists and topics, which a person chooses on the public forms, a tag is
something staff know about a person. Nothing public reads these tables; the only
ways out are staff commands, staff exports and a campaign narrowed to a tag. An
import never turns a tag into a list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from subscribers.errors import Conflict, NotFound
from subscribers.models import Subscriber
from subscribers.orm import Base, UTCDateTime, utcnow
from subscribers.slugs import slugify

NAME_MAX = 100


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriberTag(Base):
    __tablename__ = "subscriber_tags"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignTag(Base):
    """The tag a campaign's audience is narrowed to, which staff chose explicitly.

    Keyed by the campaign's id without a foreign key, so the subscriber tables stand
    on their own; a narrowed campaign mails only active people on its list (and
    topic) who also carry the tag.
    """

    __tablename__ = "campaign_tags"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="RESTRICT"), index=True)


def narrow_campaign(session: Session, campaign_id: int, ref: str) -> Tag:
    """Mail campaign ``campaign_id`` only to people with the tag ``ref``."""
    tag = get(session, ref)
    found = session.get(CampaignTag, campaign_id)
    if found is None:
        session.add(CampaignTag(campaign_id=campaign_id, tag_id=tag.id))
    else:
        found.tag_id = tag.id
    session.flush()
    return tag


def campaign_tag(session: Session, campaign_id: int) -> Tag | None:
    """The tag a campaign is narrowed to, if any."""
    found = session.get(CampaignTag, campaign_id)
    return None if found is None else session.get(Tag, found.tag_id)


def clean_name(name: str) -> str:
    """One line, at most ``NAME_MAX`` characters, with a letter or digit."""
    name = " ".join(name.split())
    if not name or not slugify(name):
        raise Conflict("a tag needs a name with at least one letter or digit")
    if len(name) > NAME_MAX:
        raise Conflict(f"a tag name may have at most {NAME_MAX} characters")
    return name


def find(session: Session, ref: str) -> Tag | None:
    """The tag called ``ref`` (any case, or its slug), or None."""
    slug = slugify(ref)
    return session.scalar(select(Tag).where(Tag.slug == slug)) if slug else None


def get(session: Session, ref: str) -> Tag:
    found = find(session, ref)
    if found is None:
        raise NotFound(f"no tag called {ref!r} (see `newsletter subscribers tag list`)")
    return found


def ensure(session: Session, name: str) -> tuple[Tag, bool]:
    """The tag called ``name``, and whether it was created now."""
    name = clean_name(name)
    found = find(session, name)
    if found is not None:
        return found, False
    tag = Tag(slug=slugify(name), name=name, created_at=utcnow())
    session.add(tag)
    session.flush()
    return tag, True


def add(session: Session, person: Subscriber, names: Iterable[str]) -> list[str]:
    """Tag a person; returns the tags they did not have before."""
    have = set(of(session, [person.id]).get(person.id, []))
    added = []
    for name in names:
        tag, _ = ensure(session, name)
        if tag.name not in have:
            session.add(SubscriberTag(subscriber_id=person.id, tag_id=tag.id, created_at=utcnow()))
            have.add(tag.name)
            added.append(tag.name)
    session.flush()
    return added


def remove(session: Session, person: Subscriber, names: Iterable[str]) -> list[str]:
    """Take tags off a person; returns those they had."""
    removed = []
    for name in names:
        tag = get(session, name)
        result = session.execute(
            delete(SubscriberTag).where(
                SubscriberTag.subscriber_id == person.id, SubscriberTag.tag_id == tag.id
            )
        )
        if getattr(result, "rowcount", 0):
            removed.append(tag.name)
    session.flush()
    return removed


def of(session: Session, ids: list[int]) -> dict[int, list[str]]:
    """Tag names per person id, sorted."""
    if not ids:
        return {}
    query = (
        select(SubscriberTag.subscriber_id, Tag.name)
        .join(Tag, Tag.id == SubscriberTag.tag_id)
        .where(SubscriberTag.subscriber_id.in_(ids))
        .order_by(Tag.name)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for sid, name in session.execute(query):
        found[sid].append(name)
    return found


def all_tags(session: Session) -> list[tuple[Tag, int]]:
    """Every tag with how many people carry it, by name."""
    counts = dict(
        session.execute(
            select(SubscriberTag.tag_id, func.count()).group_by(SubscriberTag.tag_id)
        ).all()
    )
    tags = session.scalars(select(Tag).order_by(Tag.name))
    return [(tag, counts.get(tag.id, 0)) for tag in tags]
