"""The organisation's figures over time: subscribers per month and money per month or briefing.

Pure functions of the tables, like the campaign report. New readers are counted from
the consent log (one person counted once per month, under the way they came: the web
form's confirmation, an import, or staff adding them); leavers from the unsubscribe
events; bounced from hard-bounce events (one per address per month).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.campaigns.models import BounceEvent, Campaign
from newsletter.campaigns.states import BounceKind
from newsletter.donations.models import Gift
from newsletter.donations.states import Frequency
from subscribers import consent
from subscribers.models import ConsentEvent, MailingList, Subscriber, Subscription

SOURCES = {consent.CONFIRM: "web form", consent.IMPORT: "import", consent.STAFF_ADD: "staff"}


def month(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


@dataclass(frozen=True)
class GrowthLine:
    month: str
    web_form: int
    imported: int
    staff: int
    unsubscribed: int
    bounced: int

    @property
    def new(self) -> int:
        return self.web_form + self.imported + self.staff

    @property
    def net(self) -> int:
        return self.new - self.unsubscribed - self.bounced


@dataclass(frozen=True)
class ListSize:
    name: str
    readers: int  # subscribed and mailable (active)
    archived: bool


@dataclass(frozen=True)
class Growth:
    months: list[GrowthLine]
    lists: list[ListSize]


def _months(since: date | None, found: set[str]) -> list[str]:
    return sorted(m for m in found if since is None or m >= since.strftime("%Y-%m"))


def growth(session: Session, since: date | None = None) -> Growth:
    start = datetime(since.year, since.month, since.day) if since else None
    events = select(ConsentEvent.action, ConsentEvent.subscriber_id, ConsentEvent.at).where(
        ConsentEvent.action.in_([*SOURCES, consent.UNSUBSCRIBE])
    )
    joined: dict[tuple[str, str], set[object]] = defaultdict(set)
    for action, who, at in session.execute(events):
        if start is not None and at.replace(tzinfo=None) < start:
            continue
        # an erased person's events keep no id: each still counts once
        joined[(month(at), action)].add(who if who is not None else object())
    bounced: dict[str, set[str]] = defaultdict(set)
    hard = select(BounceEvent.email, BounceEvent.fingerprint, BounceEvent.received_at).where(
        BounceEvent.kind == BounceKind.HARD
    )
    for email, fingerprint, at in session.execute(hard):
        if start is not None and at.replace(tzinfo=None) < start:
            continue
        bounced[month(at)].add(email.lower() or fingerprint)
    months = _months(since, {m for m, _ in joined} | set(bounced))
    lines = [
        GrowthLine(
            m,
            len(joined[(m, consent.CONFIRM)]),
            len(joined[(m, consent.IMPORT)]),
            len(joined[(m, consent.STAFF_ADD)]),
            len(joined[(m, consent.UNSUBSCRIBE)]),
            len(bounced[m]),
        )
        for m in months
    ]
    sizes = session.execute(
        select(MailingList.name, MailingList.archived, func.count(Subscriber.id))
        .select_from(MailingList)
        .outerjoin(
            Subscription,
            (Subscription.list_id == MailingList.id) & Subscription.subscribed.is_(True),
        )
        .outerjoin(
            Subscriber,
            (Subscriber.id == Subscription.subscriber_id) & (Subscriber.status == "active"),
        )
        .group_by(MailingList.id, MailingList.name, MailingList.archived)
        .order_by(MailingList.name)
    )
    return Growth(lines, [ListSize(name, count, archived) for name, archived, count in sizes])


@dataclass(frozen=True)
class MoneyLine:
    label: str
    currency: str
    gifts: int
    once: int
    monthly: int
    net_minor: int


def money(session: Session, by: str = "month") -> list[MoneyLine]:
    """Gifts net of refunds and disputes, per month of payment or per briefing."""
    named = session.execute(select(Campaign.id, Campaign.subject))
    subjects = dict(named.all())
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for gift in session.scalars(select(Gift).order_by(Gift.paid_at, Gift.id)):
        if by == "briefing":
            cid = gift.campaign_id
            label = f"#{cid} {subjects.get(cid, '')}".strip() if cid else "(no briefing)"
        else:
            label = month(gift.paid_at)
        totals = groups[(label, gift.currency)]
        totals["gifts"] += 1
        totals["monthly" if gift.frequency == Frequency.MONTHLY else "once"] += 1
        totals["net"] += gift.net_minor
    return [
        MoneyLine(label, cur, t["gifts"], t["once"], t["monthly"], t["net"])
        for (label, cur), t in groups.items()
    ]
