"""Tables of the subscriber domain.

Addresses are stored normalised (``email``) with a lower-cased copy (``email_key``)
that carries the unique index, so ``Ann@Example.org`` and ``ann@example.org`` are
one person on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from subscribers import folding
from subscribers.orm import Base, UTCDateTime, utcnow


class Status(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


#: Statuses that must never be mailed again unless staff reverse them.
BLOCKED = frozenset({Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED})


class Subscriber(Base):
    __tablename__ = "subscribers"
    # On SQLite, a deleted person's id (which their links carry) is never reused.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING, index=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    # Address and name folded for search (``subscribers.folding.key``); set on every
    # flush below, and by the importer's bulk writes.
    search_key: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )


@event.listens_for(Subscriber, "before_insert")
@event.listens_for(Subscriber, "before_update")
def _fold_for_search(_mapper: Mapper[Subscriber], _conn: Connection, person: Subscriber) -> None:
    """Whatever changed a person's name or address, their search key follows it."""
    person.search_key = folding.key(person.email_key, person.name or "")


class Kind(enum.StrEnum):
    """What a row of ``lists`` is: see docs/audience.md."""

    LIST = "list"  # what a person subscribes to and a campaign is sent to
    TOPIC = "topic"  # an interest inside a list: never takes a reader off it


class MailingList(Base):
    """A list ("All briefings") or a topic ("Ukraine"), told apart by ``kind``.

    Both share one table (and one slug space) so a name always means one thing and
    every subscription, consent record and campaign keeps pointing where it did.
    """

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(8), default=Kind.LIST)
    # Topics only: shown on the public subscribe form and preference centre.
    public: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def is_topic(self) -> bool:
        return self.kind == Kind.TOPIC


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "list_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    mailing_list: Mapped[MailingList] = relationship()


class ConsentEvent(Base):
    """Append-only record of what a person agreed to (or withdrew), when and how."""

    __tablename__ = "consent_log"
    __table_args__ = (Index("ix_consent_log_subscriber", "subscriber_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(40))  # subscribe, confirm, unsubscribe, import...
    lists: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    form: Mapped[str] = mapped_column(String(100), default="")
    wording: Mapped[str] = mapped_column(Text, default="")


class Suppression(Base):
    """Addresses never to be mailed; keyed by a hash so it outlives erasure."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(40))  # unsubscribed, hard-bounce, complaint, erased
    evidence: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
