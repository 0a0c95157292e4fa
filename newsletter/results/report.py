"""What one campaign achieved, read from the tables: a pure function of the database.

Every figure here is a count over rows other modules write (the send ledger, bounce
events, the consent log, clicks, opens, gifts); nothing is stored twice, so a report
can be made again at any time and always agrees with the raw tables.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.campaigns.models import BounceEvent, Campaign, CampaignRecipient
from newsletter.campaigns.states import BounceKind
from newsletter.donations.models import DonationIntent, Gift
from newsletter.donations.states import Frequency
from newsletter.errors import NotFound
from newsletter.results.models import BounceCollection, CampaignLink, Click, Open
from subscribers import consent
from subscribers.models import ConsentEvent

ATTRIBUTION_DAYS = 30  # an unsubscribe from a campaign's own link within this counts for it
SERIES_DAYS = 7
_CAMPAIGN_IN_WORDING = re.compile(r"\(campaign (\d+)\)")


def unsubscribe_campaign(wording: str) -> int | None:
    """The campaign whose own unsubscribe link was used, as the web app records it."""
    match = _CAMPAIGN_IN_WORDING.search(wording)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class LinkLine:
    idx: int
    url: str
    text: str
    clicks: int  # human
    machine: int


@dataclass(frozen=True)
class Money:
    currency: str
    net_minor: int


@dataclass(frozen=True)
class Collected:
    """When bounces were last read, so "no bounces" never means "never checked"."""

    configured: bool
    last: datetime | None
    error: str = ""

    def sentence(self) -> str:
        if not self.configured:
            return (
                "No bounce mailbox is set up (NEWSLETTER_BOUNCE_MAILBOX), so bounces are "
                "only those refused at sending time."
            )
        if self.last is None:
            return (
                "A bounce mailbox is set up but has not been read yet: newsletter serve "
                "or newsletter worker reads it."
            )
        when = self.last.strftime("%Y-%m-%d %H:%M UTC")
        return f"Bounces last collected {when}" + (
            f" (that read failed: {self.error})." if self.error else "."
        )


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    subject: str
    started_at: datetime | None
    tracking: str
    readers: int
    sent: int
    deferred: int
    failed: int
    skipped: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    unsubscribes: int
    human_clicks: int
    machine_clicks: int
    unique_clickers: int | None  # None: not known in aggregate mode
    links: list[LinkLine]
    opens: int | None  # None: opens not tracked
    gifts: int
    gifts_once: int
    gifts_monthly: int
    totals: list[Money]
    gift_aid_gifts: int
    days: list[tuple[int, int, int]] = field(default_factory=list)  # (day, clicks, gifts)
    bounces: Collected = Collected(False, None)

    @property
    def gifts_per_thousand(self) -> float:
        return 1000 * self.gifts / self.readers if self.readers else 0.0

    @property
    def gift_aid_share(self) -> float:
        return self.gift_aid_gifts / self.gifts if self.gifts else 0.0


def collected(session: Session, configured: bool) -> Collected:
    last = session.execute(
        select(BounceCollection.collected_at, BounceCollection.error)
        .order_by(BounceCollection.collected_at.desc(), BounceCollection.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return Collected(configured, None)
    return Collected(configured, last[0], last[1])


def _day(start: datetime | None, moment: datetime) -> int | None:
    if start is None:
        return None
    day = (moment - start) // timedelta(days=1)
    return day if 0 <= day < SERIES_DAYS else None


def campaign_report(
    session: Session,
    campaign_id: int,
    *,
    tracking: str,
    bounce_mailbox: bool,
    track_opens: bool = False,
) -> CampaignReport:
    """Every figure of one campaign (``NotFound`` if there is no such campaign)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"there is no campaign {campaign_id}; see: newsletter campaign list")
    states = Counter(
        dict(
            session.execute(
                select(CampaignRecipient.state, func.count())
                .where(CampaignRecipient.campaign_id == campaign_id)
                .group_by(CampaignRecipient.state)
            ).all()
        )
    )
    kinds = Counter(
        dict(
            session.execute(
                select(BounceEvent.kind, func.count())
                .where(BounceEvent.campaign_id == campaign_id)
                .group_by(BounceEvent.kind)
            ).all()
        )
    )
    start = campaign.started_at
    unsubscribes = 0
    if start is not None:
        rows = session.execute(
            select(ConsentEvent.wording).where(
                ConsentEvent.action == consent.UNSUBSCRIBE,
                ConsentEvent.at >= start,
                ConsentEvent.at < start + timedelta(days=ATTRIBUTION_DAYS),
            )
        )
        unsubscribes = sum(1 for (w,) in rows if unsubscribe_campaign(w) == campaign_id)
    clicks = session.execute(
        select(Click.link_idx, Click.machine, Click.subscriber_id, Click.clicked_at).where(
            Click.campaign_id == campaign_id
        )
    ).all()
    human = [c for c in clicks if not c.machine]
    per_link = Counter(c.link_idx for c in human)
    per_link_machine = Counter(c.link_idx for c in clicks if c.machine)
    table = session.execute(
        select(CampaignLink.idx, CampaignLink.url, CampaignLink.text)
        .where(CampaignLink.campaign_id == campaign_id)
        .order_by(CampaignLink.idx)
    ).all()
    links = sorted(
        (LinkLine(i, url, text, per_link[i], per_link_machine[i]) for i, url, text in table),
        key=lambda line: (-line.clicks, line.idx),
    )
    named = {c.subscriber_id for c in human if c.subscriber_id is not None}
    unique = len(named) if tracking == "person" else None
    opens = None
    if track_opens:
        opens = session.scalar(
            select(func.count()).select_from(Open).where(Open.campaign_id == campaign_id)
        )
    gifts = session.execute(
        select(Gift, DonationIntent.gift_aid)
        .outerjoin(DonationIntent, DonationIntent.id == Gift.intent_id)
        .where(Gift.campaign_id == campaign_id)
    ).all()
    money: Counter[str] = Counter()
    for gift, _ in gifts:
        money[gift.currency] += gift.net_minor
    series = []
    click_days = Counter(_day(start, c.clicked_at) for c in human)
    gift_days = Counter(_day(start, g.paid_at) for g, _ in gifts)
    if start is not None:
        series = [(d, click_days[d], gift_days[d]) for d in range(SERIES_DAYS)]
    return CampaignReport(
        campaign_id=campaign_id,
        subject=campaign.subject,
        started_at=start,
        tracking=tracking,
        readers=sum(states.values()),
        sent=states["sent"],
        deferred=states["deferred"],
        failed=states["failed"],
        skipped=states["skipped"],
        hard_bounces=kinds[BounceKind.HARD],
        soft_bounces=kinds[BounceKind.SOFT],
        complaints=kinds[BounceKind.COMPLAINT],
        unsubscribes=unsubscribes,
        human_clicks=len(human),
        machine_clicks=len(clicks) - len(human),
        unique_clickers=unique,
        links=links,
        opens=opens,
        gifts=len(gifts),
        gifts_once=sum(1 for g, _ in gifts if g.frequency != Frequency.MONTHLY),
        gifts_monthly=sum(1 for g, _ in gifts if g.frequency == Frequency.MONTHLY),
        totals=[Money(cur, minor) for cur, minor in sorted(money.items())],
        gift_aid_gifts=sum(1 for _, aid in gifts if aid),
        days=series,
        bounces=collected(session, bounce_mailbox),
    )
