"""Tables of the results domain: each campaign's link table, clicks, opens, bounce runs
and who may run the next one.

A click row names a reader only in ``person`` tracking mode; in ``aggregate`` mode
``subscriber_id`` stays empty and nothing else in the row (no address, no IP, no
user agent) can tell who clicked. ``machine`` marks clicks made by software (HEAD
requests, a mail scanner fetching every link of a copy at once), kept out of the
human figures but counted, so nothing is silently dropped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.orm import Base, UTCDateTime, utcnow


class CampaignLink(Base):
    """One link of a campaign, stored when sending starts: ``/r/`` redirects only here."""

    __tablename__ = "campaign_links"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(String(400), default="")


class Click(Base):
    """One request for a tracked link."""

    __tablename__ = "clicks"
    __table_args__ = (Index("ix_clicks_campaign", "campaign_id", "link_idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    link_idx: Mapped[int] = mapped_column(Integer)
    # person mode only; erasing the person removes their clicks
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=True, index=True
    )
    machine: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(16), default="")  # head, burst
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Open(Base):
    """One load of the optional open pixel: an estimate, never a fact (privacy proxies
    load every image of every message)."""

    __tablename__ = "opens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=True, index=True
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BounceCollection(Base):
    """One scheduled read of the bounce mailbox, so reports can say when it last ran."""

    __tablename__ = "bounce_collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")


class CollectionLease(Base):
    """Which process reads the bounce mailbox: one at a time, whether ``newsletter
    worker`` or the loop inside ``newsletter serve``. The holder renews ``until`` on each
    run; when it stops renewing (it died), another takes over once ``until`` passes."""

    __tablename__ = "bounce_collection_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
