"""A campaign's life: create, schedule, pause, resume, cancel, and report on it.

Low-volume staff actions, so plain ORM sessions; the hot path lives in ``ledger``.
Each transition names the statuses it may start from, so a finished campaign can
never be sent again and a cancelled one never resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from newsletter.campaigns import archive
from newsletter.campaigns.archive import Page
from newsletter.campaigns.models import Campaign, CampaignRecipient
from newsletter.campaigns.states import CampaignStatus, RecipientState
from newsletter.errors import BriefingError, Conflict, NotFound
from subscribers import audience
from subscribers.models import MailingList
from subscribers.orm import utcnow

S = CampaignStatus


class CampaignStateError(Conflict):
    """An action the campaign's current status forbids (resuming a finished campaign...)."""


class AlreadySent(Conflict):
    """The same briefing already went (or is going) to the same list."""


class LintRefused(Conflict):
    """The briefing has lint errors and nobody asked to send it anyway."""


@dataclass(frozen=True)
class CampaignProgress:
    """What ``campaign status`` shows."""

    campaign: Campaign
    list_name: str
    counts: dict[str, int]
    rate: float  # messages sent per second over the last minute
    eta_seconds: float | None

    @property
    def remaining(self) -> int:
        c = self.counts
        return c[RecipientState.QUEUED] + c[RecipientState.SENDING] + c[RecipientState.DEFERRED]


def read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BriefingError("no such file", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BriefingError(f"cannot read it: {exc}", path=str(path)) from None


def create(
    session: Session,
    *,
    briefing_path: Path,
    source_text: str,
    slug: str,
    subject: str,
    list_ref: str,
    topic: str | None = None,
) -> Campaign:
    """A draft campaign holding the briefing's source, so later sends use the same text."""
    chosen = audience.resolve(session, list_ref, topic)
    campaign = Campaign(
        briefing_path=str(briefing_path),
        briefing_slug=slug,
        source_text=source_text,
        subject=subject,
        list_id=chosen.list_id,
        topic_list_id=chosen.topic_id,
        status=S.DRAFT,
        stop_reason="",
        lint_override=False,
        created_at=utcnow(),
        total=0,
    )
    session.add(campaign)
    session.flush()
    return campaign


def get(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"there is no campaign {campaign_id} (see `newsletter campaign list`)")
    return campaign


def all_campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id)))


def _require(campaign: Campaign, allowed: set[CampaignStatus], action: str) -> None:
    if campaign.status not in allowed:
        raise CampaignStateError(
            f"campaign {campaign.id} is {campaign.status}: it cannot be {action}"
        )


def earlier_send(session: Session, campaign: Campaign) -> Campaign | None:
    """Another campaign of the same briefing to the same list that went, is going or is
    scheduled to go; the earliest, if any.

    The same briefing is the same slug, or the same number (a paper retitled after it
    went out is still that paper). A campaign cancelled before it started never went.
    """
    number, _, _ = campaign.briefing_slug.partition("-")
    same_briefing = Campaign.briefing_slug == campaign.briefing_slug
    if number.isdigit():
        same_briefing = same_briefing | Campaign.briefing_slug.startswith(f"{number}-")
    live = [S.SCHEDULED, S.SENDING, S.PAUSED, S.STOPPED, S.FINISHED]
    return session.scalars(
        select(Campaign)
        .where(
            Campaign.id != campaign.id,
            Campaign.list_id == campaign.list_id,
            same_briefing,
            Campaign.status.in_(live) | Campaign.started_at.is_not(None),
        )
        .order_by(func.coalesce(Campaign.started_at, Campaign.send_at), Campaign.id)
        .limit(1)
    ).first()


def _already(earlier: Campaign, list_name: str, zone: tzinfo) -> str:
    def at(when: datetime | None) -> str:
        return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if when else "an unknown time"

    if earlier.started_at is None:
        went = f"is already scheduled to go to {list_name} at {at(earlier.send_at)}"
    elif earlier.status in (S.SENDING, S.PAUSED, S.STOPPED):
        went = f"is already going to {list_name} (since {at(earlier.started_at)})"
    else:
        went = f"already went to {list_name} on {at(earlier.started_at)}"
    return (
        f"{earlier.subject!r} {went} as campaign {earlier.id}; "
        "add --again to send it to the same list again"
    )


def schedule(
    session: Session,
    campaign_id: int,
    *,
    at: datetime | None = None,
    override: bool = False,
    again: bool = False,
    page: Page | None = None,
    zone: tzinfo = UTC,
) -> Campaign:
    """Queue a draft for sending at ``at`` (now if None); workers start it when due.

    Refuses (``AlreadySent``) a briefing that already went, or is going, to the same list,
    unless ``again``: a second send reaches every reader twice and cannot be undone.
    ``page`` is the briefing's web page, held back until the send starts.
    """
    campaign = get(session, campaign_id)
    _require(campaign, {S.DRAFT, S.SCHEDULED}, "scheduled")
    if not again:
        # Two members of staff scheduling the same paper for the same list at once: on
        # PostgreSQL the list's row serialises them, so the second sees the first.
        session.execute(
            select(MailingList.id).where(MailingList.id == campaign.list_id).with_for_update()
        )
        earlier = earlier_send(session, campaign)
        if earlier is not None:
            target = session.get(MailingList, campaign.list_id)
            name = target.name if target is not None else f"list {campaign.list_id}"
            raise AlreadySent(_already(earlier, name, zone))
    if page is not None:
        archive.hold_for_campaign(session, campaign.id, page)
    campaign.status = S.SCHEDULED
    campaign.send_at = at or utcnow()
    campaign.lint_override = override
    session.flush()
    return campaign


def pause(session: Session, campaign_id: int) -> Campaign:
    """Workers finish their current batch and claim no more rows."""
    campaign = get(session, campaign_id)
    _require(campaign, {S.SCHEDULED, S.SENDING}, "paused")
    campaign.status = S.PAUSED
    session.flush()
    return campaign


def resume(session: Session, campaign_id: int) -> Campaign:
    """Continue a paused or stopped campaign (after fixing what stopped it)."""
    campaign = get(session, campaign_id)
    _require(campaign, {S.PAUSED, S.STOPPED}, "resumed")
    campaign.status = S.SENDING if campaign.started_at is not None else S.SCHEDULED
    campaign.stop_reason = ""
    session.flush()
    return campaign


def cancel(session: Session, campaign_id: int) -> Campaign:
    """Never send the rest: unsent rows become skipped, with the reason."""
    campaign = get(session, campaign_id)
    _require(campaign, {S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED, S.STOPPED}, "cancelled")
    now = utcnow()
    campaign.status = S.CANCELLED
    campaign.finished_at = now
    session.flush()
    rows = cast(Table, CampaignRecipient.__table__)
    session.execute(
        update(rows)
        .where(
            rows.c.campaign_id == campaign_id,
            (rows.c.state.in_([RecipientState.QUEUED, RecipientState.DEFERRED]))
            | ((rows.c.state == RecipientState.SENDING) & (rows.c.lease_until < now)),
        )
        .values(
            state=RecipientState.SKIPPED,
            last_reply="skipped: campaign cancelled",
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return campaign


def report(session: Session, campaign_id: int) -> CampaignProgress:
    campaign = get(session, campaign_id)
    rows = cast(Table, CampaignRecipient.__table__)
    counts = {str(state): 0 for state in RecipientState}
    for state, count in session.execute(
        select(rows.c.state, func.count())
        .where(rows.c.campaign_id == campaign_id)
        .group_by(rows.c.state)
    ):
        counts[state] = int(count)
    window = 60.0
    recent = session.scalar(
        select(func.count())
        .select_from(rows)
        .where(
            rows.c.campaign_id == campaign_id,
            rows.c.sent_at >= utcnow() - timedelta(seconds=window),
        )
    )
    rate = (recent or 0) / window
    mailing_list = session.get(MailingList, campaign.list_id)
    name = mailing_list.name if mailing_list is not None else str(campaign.list_id)
    built = CampaignProgress(campaign, name, counts, rate, None)
    eta = built.remaining / rate if rate > 0 and campaign.status == S.SENDING else None
    return CampaignProgress(campaign, name, counts, rate, eta)
