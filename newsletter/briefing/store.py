"""Briefings kept in the database, for the console: every saved version, and who saved it.

A briefing's text is its Markdown source (the same format ``briefing import`` writes), so
the console, the command line and a campaign all read one thing. Nothing is overwritten:
a save adds a version, so "what did it say before the links were filled?" has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.briefing import markdown, writer
from newsletter.briefing.model import Briefing
from newsletter.errors import BriefingError, Conflict, NotFound
from subscribers.orm import Base, UTCDateTime, utcnow


class StoredBriefing(Base):
    __tablename__ = "briefings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(400), default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BriefingVersion(Base):
    __tablename__ = "briefing_versions"
    __table_args__ = (UniqueConstraint("briefing_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    briefing_id: Mapped[int] = mapped_column(
        ForeignKey("briefings.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    source_text: Mapped[str] = mapped_column(Text)
    saved_by: Mapped[str] = mapped_column(String(320))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(String(200), default="")


@dataclass(frozen=True)
class Current:
    """A briefing's latest version, parsed."""

    id: int
    version: int
    source: str
    briefing: Briefing
    saved_by: str
    saved_at: datetime

    @property
    def label(self) -> str:
        return f"console:briefing-{self.id}-v{self.version}"


def create(session: Session, source: str, actor: str, note: str) -> StoredBriefing:
    """A new briefing with ``source`` as version 1 (refused if it does not parse)."""
    parsed = markdown.parse(source, source="the uploaded paper")
    stored = StoredBriefing(title=parsed.title[:400], created_by=actor, created_at=utcnow())
    session.add(stored)
    session.flush()
    _add_version(session, stored, 1, source, actor, note)
    return stored


class EditedMeanwhile(Conflict):
    """Someone saved another version since this edit began: saving would undo their work."""


def save(
    session: Session,
    briefing_id: int,
    source: str,
    actor: str,
    note: str,
    *,
    based_on: int | None = None,
) -> int:
    """Keep ``source`` as the next version; returns its number (0: unchanged, not saved).

    A source that would not read back is refused (``BriefingError`` naming the line), so
    the latest version is always one a campaign can send. ``based_on`` is the version the
    edit started from: if another was saved since, the edit is refused, not merged."""
    stored = get(session, briefing_id)
    parsed = markdown.parse(source, source=f"briefing {briefing_id}")
    last = _latest(session, briefing_id)
    if based_on is not None and last.number != based_on:
        raise EditedMeanwhile(
            f"{last.saved_by} saved version {last.number} while you were editing version "
            f"{based_on}; nothing was saved. Reload the page and make your change again"
        )
    if last.source_text == source:
        return 0
    stored.title = parsed.title[:400]
    return _add_version(session, stored, last.number + 1, source, actor, note).number


def retitled(source: str, title: str, subject: str) -> str:
    """``source`` with a new title and email subject (an empty subject: the title is used)."""
    if not title.strip():
        raise BriefingError("a briefing needs a title")
    parsed = markdown.parse(source, source="the briefing")
    changed = replace(
        parsed, title=" ".join(title.split()), email_subject=" ".join(subject.split())
    )
    return writer.dump(changed)


def get(session: Session, briefing_id: int) -> StoredBriefing:
    stored = session.get(StoredBriefing, briefing_id)
    if stored is None:
        raise NotFound(f"there is no briefing {briefing_id}")
    return stored


def current(session: Session, briefing_id: int) -> Current:
    get(session, briefing_id)
    last = _latest(session, briefing_id)
    parsed = markdown.parse(last.source_text, source=f"briefing {briefing_id}")
    return Current(briefing_id, last.number, last.source_text, parsed, last.saved_by, last.saved_at)


def versions(session: Session, briefing_id: int) -> list[BriefingVersion]:
    """Newest first."""
    return list(
        session.scalars(
            select(BriefingVersion)
            .where(BriefingVersion.briefing_id == briefing_id)
            .order_by(BriefingVersion.number.desc())
        )
    )


def all_briefings(session: Session) -> list[tuple[StoredBriefing, int]]:
    """Every briefing with its number of versions, newest first."""
    counts = (
        select(BriefingVersion.briefing_id, func.max(BriefingVersion.number).label("n"))
        .group_by(BriefingVersion.briefing_id)
        .subquery()
    )
    rows = session.execute(
        select(StoredBriefing, counts.c.n)
        .join(counts, counts.c.briefing_id == StoredBriefing.id)
        .order_by(StoredBriefing.id.desc())
    )
    return [(stored, int(n)) for stored, n in rows]


def _latest(session: Session, briefing_id: int) -> BriefingVersion:
    last = session.scalars(
        select(BriefingVersion)
        .where(BriefingVersion.briefing_id == briefing_id)
        .order_by(BriefingVersion.number.desc())
        .limit(1)
    ).first()
    if last is None:
        raise NotFound(f"briefing {briefing_id} has no saved text")
    return last


def _add_version(
    session: Session, stored: StoredBriefing, number: int, source: str, actor: str, note: str
) -> BriefingVersion:
    version = BriefingVersion(
        briefing_id=stored.id,
        number=number,
        source_text=source,
        saved_by=actor,
        saved_at=utcnow(),
        note=note[:200],
    )
    session.add(version)
    session.flush()
    return version
