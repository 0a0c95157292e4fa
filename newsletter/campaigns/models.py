"""Tables of the campaign domain: campaigns, their per-recipient ledger, bounce events.

The ledger (``campaign_recipients``) is the single source of truth for who got what:
every recipient of a campaign has one row whose ``state`` moves
queued -> sending -> sent | deferred | failed | skipped. Workers claim rows with a
lease, so a worker that dies leaves rows that another worker can take over.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.campaigns.states import CampaignStatus, RecipientState
from subscribers.orm import Base, UTCDateTime, utcnow


class Campaign(Base):
    """One briefing sent to one list; keeps the briefing source so a resumed send is identical."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    briefing_path: Mapped[str] = mapped_column(String(1000))
    briefing_slug: Mapped[str] = mapped_column(String(200), default="")
    source_text: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(400))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="RESTRICT"))
    topic_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("lists.id", ondelete="RESTRICT"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT, index=True)
    stop_reason: Mapped[str] = mapped_column(Text, default="")
    lint_override: Mapped[bool] = mapped_column(Boolean, default=False)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)


class ArchivePage(Base):
    """One version of a briefing's public web page, served at ``/archive/<slug>``.

    A row's ``html`` never changes once written, so ``etag`` (a hash of it) lets every
    web process cache and revalidate it. A row with no ``published_at`` waits for its
    campaign to start sending (the embargo); the current page of a slug is its most
    recently published row. Kept in the database, not a folder, so every web process on
    every machine serves the same archive.
    """

    __tablename__ = "archive_pages"
    __table_args__ = (Index("ix_archive_pages_slug", "slug", "published_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    number: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(400))
    briefing_date: Mapped[date] = mapped_column(Date)
    html: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(80))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CampaignRecipient(Base):
    """One recipient of one campaign: the ledger row workers claim and settle."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id"),
        Index("ix_campaign_recipients_due", "campaign_id", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # Erasing a person removes their ledger rows too: the email snapshot is personal data.
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), default=RecipientState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_reply: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BounceEvent(Base):
    """One bounce or complaint about one address, with the evidence behind it.

    ``fingerprint`` is unique so processing the same mailbox twice counts nothing twice.
    """

    __tablename__ = "bounce_events"
    __table_args__ = (Index("ix_bounce_events_subscriber", "subscriber_id", "kind", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True
    )
    email: Mapped[str] = mapped_column(String(320), default="")
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="")
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(40), default="")  # smtp, dsn, arf
    evidence: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


BOUNCE_TOMBSTONE: dict[str, object] = {
    "subscriber_id": None,
    "email": "",
    "status": "",
    "diagnostic": "",
    "evidence": "",
}
"""What is kept of a bounce event about an erased person: its fingerprint, kind, source,
campaign and time, nothing personal.

The row stays because its fingerprint is what tells ``bounces process`` it has seen
that report before; mailboxes are only read, so without it the next run over the same
mailbox would store the report, and the address in it, again.
"""
