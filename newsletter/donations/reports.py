"""What staff see: gifts per briefing (campaign) and per month, and the CSV export.

Totals are computed from ``Gift`` rows in Python: a small organisation has
thousands of gifts, not millions, and one pass keeps SQLite and PostgreSQL
answers identical. Net means after refunds and disputes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import Integer, String, column, inspect, select, table
from sqlalchemy.orm import Session

from newsletter.donations.amounts import format_amount, to_major
from newsletter.donations.models import DonationIntent, Gift, GiftAidClaim, GiftAidClaimed
from newsletter.donations.states import Frequency


@dataclass
class Line:
    """One row of a report (a campaign, a month, or the total) in one currency."""

    label: str
    currency: str
    gifts: int = 0
    once_minor: int = 0
    monthly_minor: int = 0
    refunded_minor: int = 0
    disputed_minor: int = 0
    donors: set[str] = field(default_factory=set)

    @property
    def gross_minor(self) -> int:
        return self.once_minor + self.monthly_minor

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.refunded_minor - self.disputed_minor

    def add(self, gift: Gift) -> None:
        self.gifts += 1
        if gift.frequency == Frequency.MONTHLY:
            self.monthly_minor += gift.amount_minor
        else:
            self.once_minor += gift.amount_minor
        self.refunded_minor += gift.refunded_minor
        self.disputed_minor += gift.disputed_minor
        self.donors.add(donor_key(gift))

    def money(self, minor: int) -> str:
        return format_amount(minor, self.currency)


@dataclass
class DonationTotals:
    by_campaign: list[Line]
    by_month: list[Line]
    totals: list[Line]


def donor_key(gift: Gift) -> str:
    if gift.donor_email:
        return gift.donor_email.strip().lower()
    if gift.subscriber_id is not None:
        return f"subscriber:{gift.subscriber_id}"
    return gift.customer_id or gift.source_id


def campaign_labels(session: Session) -> dict[int, str]:
    """Campaign names when the campaigns tables exist (they belong to another domain)."""
    bind = session.get_bind()
    inspector = inspect(bind)
    if not inspector.has_table("campaigns"):
        return {}
    columns = {c["name"] for c in inspector.get_columns("campaigns")}
    name = next(
        (c for c in ("briefing_slug", "slug", "subject", "name", "title") if c in columns), None
    )
    if name is None:
        return {}
    query = select(column("id", Integer), column(name, String)).select_from(table("campaigns"))
    rows = session.execute(query)
    return {int(row[0]): str(row[1]) for row in rows}


def _campaign_label(campaign_id: int | None, labels: dict[int, str]) -> str:
    if campaign_id is None:
        return "(no campaign)"
    name = labels.get(campaign_id)
    return f"#{campaign_id} {name}" if name else f"#{campaign_id}"


def gifts(session: Session, campaign_id: int | None = None) -> list[Gift]:
    query = select(Gift).order_by(Gift.paid_at, Gift.id)
    if campaign_id is not None:
        query = query.where(Gift.campaign_id == campaign_id)
    return list(session.scalars(query))


def build(rows: Iterable[Gift], labels: dict[int, str]) -> DonationTotals:
    """Group ``rows`` per campaign, per month and overall (per currency each)."""
    campaigns: dict[tuple[str, str], Line] = {}
    months: dict[tuple[str, str], Line] = {}
    totals: dict[str, Line] = {}
    for gift in rows:
        label = _campaign_label(gift.campaign_id, labels)
        month = gift.paid_at.strftime("%Y-%m")
        cur = gift.currency
        campaigns.setdefault((label, cur), Line(label, cur)).add(gift)
        months.setdefault((month, cur), Line(month, cur)).add(gift)
        totals.setdefault(cur, Line("total", cur)).add(gift)
    return DonationTotals(
        by_campaign=[campaigns[k] for k in sorted(campaigns)],
        by_month=[months[k] for k in sorted(months)],
        totals=[totals[k] for k in sorted(totals)],
    )


def report(session: Session, campaign_id: int | None = None) -> DonationTotals:
    return build(gifts(session, campaign_id), campaign_labels(session))


EXPORT_COLUMNS: Sequence[str] = (
    "gift_id",
    "paid_at",
    "frequency",
    "amount",
    "currency",
    "refunded",
    "disputed",
    "net",
    "status",
    "donor_name",
    "donor_email",
    "campaign_id",
    "subscriber_id",
    "stripe_reference",
    "gift_aid",
    "gift_aid_name",
    "gift_aid_address",
    "gift_aid_postcode",
    "gift_aid_declaration",
    "gift_aid_declaration_version",
    "gift_aid_declared_at",
    "note",
    "gift_aid_claim",  # the reference of the Gift Aid claim that included the gift
)


def _cell(value: object) -> str:
    """Text that a spreadsheet will not run as a formula."""
    shown = "" if value is None else str(value)
    return "'" + shown if shown[:1] in ("=", "+", "-", "@", "\t", "\r") else shown


def export(session: Session, out: TextIO) -> int:
    """Write every gift (with Gift Aid declarations where collected) as CSV; returns rows."""
    intents = {i.id: i for i in session.scalars(select(DonationIntent))}
    claim_of = select(GiftAidClaimed.gift_id, GiftAidClaim.reference).join(
        GiftAidClaim, GiftAidClaim.id == GiftAidClaimed.claim_id
    )
    claimed: dict[int, str] = dict(session.execute(claim_of).all())
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for gift in gifts(session):
        intent = intents.get(gift.intent_id) if gift.intent_id is not None else None
        aid = intent is not None and intent.gift_aid

        def money(minor: int, currency: str = gift.currency) -> str:
            return str(to_major(minor, currency))

        writer.writerow(
            [
                _cell(v)
                for v in (
                    gift.id,
                    gift.paid_at.isoformat(),
                    gift.frequency,
                    money(gift.amount_minor),
                    gift.currency.upper(),
                    money(gift.refunded_minor),
                    money(gift.disputed_minor),
                    money(gift.net_minor),
                    gift.status,
                    gift.donor_name,
                    gift.donor_email,
                    gift.campaign_id,
                    gift.subscriber_id,
                    gift.source_id,
                    "yes" if aid else "no",
                    intent.gift_aid_name if aid and intent else "",
                    intent.gift_aid_address if aid and intent else "",
                    intent.gift_aid_postcode if aid and intent else "",
                    intent.gift_aid_wording if aid and intent else "",
                    intent.gift_aid_version if aid and intent else "",
                    intent.created_at.isoformat() if aid and intent else "",
                    intent.note if intent else "",
                    claimed.get(gift.id, ""),
                )
            ]
        )
        count += 1
    return count


def export_file(session: Session, path: Path) -> int:
    with path.open("w", newline="", encoding="utf-8") as out:
        return export(session, out)
