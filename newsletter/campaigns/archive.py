"""The public archive: which web pages of briefings readers may see, kept in the database.

Nothing is public until someone means it to be: rendering a briefing (``briefing render``,
``campaign preview``, a test copy) never publishes. A page becomes public when its
campaign starts sending (the row waits, unpublished, from the moment the campaign is
scheduled, and ``Ledger.start`` publishes it in the transaction that starts the send),
or when staff run ``briefing publish``. ``briefing unpublish`` takes it down again.

Rows are never edited: a new version of a page is a new row, so a row's ``etag`` names
its content for ever and web processes may cache it by slug and etag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import Connection, Table, delete, func, select, update
from sqlalchemy.orm import Session

from newsletter.campaigns.models import ArchivePage
from subscribers.orm import utcnow

if TYPE_CHECKING:  # the renderer (Jinja2, MJML) is not needed to serve or release a page
    from newsletter.briefing.model import Briefing
    from newsletter.digest.render import Digest

_P = cast(Table, ArchivePage.__table__)

MAX_AGE = 300
"""Seconds browsers and proxies may keep a page without asking again: a row never changes,
but a slug may be republished or taken down, so not for ever."""


@dataclass(frozen=True)
class Page:
    """A briefing's web page as it would be published."""

    slug: str
    number: int
    title: str
    briefing_date: date
    html: str

    @property
    def etag(self) -> str:
        """A strong HTTP entity tag: the same bytes always give the same tag."""
        return '"' + hashlib.sha256(self.html.encode()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class Listed:
    """A published briefing as the home page, the feed and the sitemap list it."""

    slug: str
    number: int
    title: str
    briefing_date: date
    published_at: datetime
    etag: str


@dataclass(frozen=True)
class Current:
    """What ``/archive/<slug>`` serves now; ``id`` finds the (immutable) html."""

    id: int
    etag: str
    published_at: datetime


def page_for(briefing: Briefing, digest: Digest) -> Page:
    """The web page of a rendered briefing, ready to hold or publish."""
    return Page(digest.slug, briefing.number, briefing.title, briefing.date, digest.web_html)


def _row(page: Page, *, campaign_id: int | None, published_at: datetime | None) -> ArchivePage:
    return ArchivePage(
        slug=page.slug,
        number=page.number,
        title=page.title,
        briefing_date=page.briefing_date,
        html=page.html,
        etag=page.etag,
        campaign_id=campaign_id,
        created_at=utcnow(),
        published_at=published_at,
    )


def hold_for_campaign(session: Session, campaign_id: int, page: Page) -> None:
    """Keep ``page`` unpublished until campaign ``campaign_id`` starts sending.

    Scheduling again replaces the waiting page, so the page that goes public is the one
    rendered from the text being sent.
    """
    session.execute(delete(_P).where(_P.c.campaign_id == campaign_id, _P.c.published_at.is_(None)))
    session.add(_row(page, campaign_id=campaign_id, published_at=None))
    session.flush()


def release_for_campaign(conn: Connection, campaign_id: int, now: datetime) -> int:
    """Publish the page waiting for this campaign; called inside the transaction that
    starts the send, so the page is public exactly when the first copy can go out."""
    result = conn.execute(
        update(_P)
        .where(_P.c.campaign_id == campaign_id, _P.c.published_at.is_(None))
        .values(published_at=now)
    )
    return int(result.rowcount or 0)


def publish(session: Session, page: Page, now: datetime | None = None) -> Listed | None:
    """Make ``page`` the public page of its slug; None if exactly this page is already
    public (nothing changes), else the newly published entry."""
    current = current_page(session, page.slug)
    if current is not None and current.etag == page.etag:
        return None
    when = now or utcnow()
    session.add(_row(page, campaign_id=None, published_at=when))
    session.flush()
    return Listed(page.slug, page.number, page.title, page.briefing_date, when, page.etag)


def unpublish(session: Session, slug: str) -> int:
    """Take every published version of ``slug`` down; how many there were.

    A page still waiting for a scheduled campaign stays waiting: when that campaign
    starts, its readers get a link that works.
    """
    result = session.execute(delete(_P).where(_P.c.slug == slug, _P.c.published_at.is_not(None)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def current_page(session: Session, slug: str) -> Current | None:
    """The page ``/archive/<slug>`` serves, without its html (one small indexed read)."""
    row = session.execute(
        select(_P.c.id, _P.c.etag, _P.c.published_at)
        .where(_P.c.slug == slug, _P.c.published_at.is_not(None))
        .order_by(_P.c.published_at.desc(), _P.c.id.desc())
        .limit(1)
    ).first()
    return Current(row.id, row.etag, row.published_at) if row is not None else None


def stamp(session: Session) -> tuple[int, int, int]:
    """A stamp that changes whenever the set of published rows does, for web processes to
    ask once a second instead of asking about each page: rows are immutable and get
    published once, so the set of published ids names the whole archive. Publishing
    adds an id (a new row, or a held one released), unpublishing removes ids; the count,
    largest id and sum of ids together stay equal only if nothing changed."""
    row = session.execute(
        select(func.count(_P.c.id), func.max(_P.c.id), func.sum(_P.c.id)).where(
            _P.c.published_at.is_not(None)
        )
    ).one()
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def html_of(session: Session, page_id: int) -> str | None:
    return session.scalar(select(_P.c.html).where(_P.c.id == page_id))


def published(session: Session) -> list[Listed]:
    """Every published briefing once (its current version), newest number first."""
    rows = session.execute(
        select(_P.c.slug, _P.c.number, _P.c.title, _P.c.briefing_date, _P.c.published_at, _P.c.etag)
        .where(_P.c.published_at.is_not(None))
        .order_by(_P.c.published_at.desc(), _P.c.id.desc())
    ).all()
    latest: dict[str, Listed] = {}
    for r in rows:
        latest.setdefault(r.slug, Listed(*r))
    return sorted(latest.values(), key=lambda e: (-e.number, e.slug))
