"""Making a Gift Aid claim: which gifts, what to adjust, and marking them claimed.

``plan`` reads; ``record`` stores the claim and marks each gift with it in one
transaction. A gift can be claimed once only: ``gift_aid_claimed`` holds its id
under a unique constraint, so two claims made at the same moment cannot both
take it. A claimed gift refunded or disputed later is declared in the next claim
as an adjustment (HMRC wants the tax over-claimed paid back that way), once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.donations.gift_aid.schedule import Candidate, Schedule, build, claimable_minor
from newsletter.donations.models import (
    DonationIntent,
    Gift,
    GiftAidAdjustment,
    GiftAidClaim,
    GiftAidClaimed,
)
from newsletter.errors import Conflict

#: HMRC's dates are UK dates: a gift at 00:30 on 1 June (BST) was received on 1 June.
UK = ZoneInfo("Europe/London")
#: Basic-rate Gift Aid: 25p of tax back for each £1 given (20% of the gross gift).
GIFT_AID_RATE = (1, 4)


def gift_aid_on(amount_minor: int) -> int:
    """The tax HMRC repays on ``amount_minor`` given (pence, rounded down)."""
    numerator, denominator = GIFT_AID_RATE
    return amount_minor * numerator // denominator


@dataclass
class Plan:
    """What a claim up to ``until`` would hold."""

    until: date
    schedule: Schedule
    #: (gift id, amount given back since it was claimed)
    adjustments: list[tuple[int, int]] = field(default_factory=list)

    @property
    def adjustment_minor(self) -> int:
        return sum(amount for _, amount in self.adjustments)

    @property
    def empty(self) -> bool:
        return not self.schedule.lines and not self.adjustments


def _candidate(gift: Gift, intent: DonationIntent) -> Candidate:
    return Candidate(
        gift_id=gift.id,
        paid_on=gift.paid_at.astimezone(UK).date(),
        amount_minor=gift.amount_minor,
        refunded_minor=gift.refunded_minor,
        disputed_minor=gift.disputed_minor,
        status=gift.status,
        currency=gift.currency,
        livemode=gift.livemode,
        declared=intent.gift_aid,
        name=intent.gift_aid_name,
        address=intent.gift_aid_address,
        postcode=intent.gift_aid_postcode,
    )


def _end_of(day: date) -> datetime:
    """Midnight at the end of ``day`` in the UK."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UK)


def plan(session: Session, until: date) -> Plan:
    """The claim for gifts paid up to the end of ``until`` (UK time) not claimed before,
    and the adjustments owed for claimed gifts given back since."""
    rows = session.execute(
        select(Gift, DonationIntent)
        .join(DonationIntent, Gift.intent_id == DonationIntent.id)
        .outerjoin(GiftAidClaimed, GiftAidClaimed.gift_id == Gift.id)
        .where(
            DonationIntent.gift_aid.is_(True),
            Gift.paid_at < _end_of(until),
            GiftAidClaimed.id.is_(None),
        )
        .order_by(Gift.paid_at, Gift.id)
    ).all()
    schedule = build(_candidate(gift, intent) for gift, intent in rows)
    adjusted = (
        select(GiftAidAdjustment.gift_id, func.sum(GiftAidAdjustment.amount_minor).label("done"))
        .group_by(GiftAidAdjustment.gift_id)
        .subquery()
    )
    claimed = session.execute(
        select(Gift, DonationIntent, GiftAidClaimed.amount_minor, adjusted.c.done)
        .join(GiftAidClaimed, GiftAidClaimed.gift_id == Gift.id)
        .join(DonationIntent, Gift.intent_id == DonationIntent.id)
        .outerjoin(adjusted, adjusted.c.gift_id == Gift.id)
        .order_by(Gift.id)
    ).all()
    adjustments = []
    for gift, intent, amount, done in claimed:
        owed = amount - int(done or 0) - claimable_minor(_candidate(gift, intent))
        if owed > 0:
            adjustments.append((gift.id, owed))
    return Plan(until, schedule, adjustments)


def record(
    sessions: sessionmaker[Session],
    until: date,
    now: datetime,
    write: Callable[[str, Plan], object],
) -> tuple[str, Plan]:
    """Store the claim up to ``until``, mark its gifts and ``write`` its schedule before
    committing (a schedule that cannot be written marks nothing); returns (reference, plan).

    Raises ``Conflict`` when there is nothing to claim or adjust, or when another
    claim took some of the same gifts at the same moment (nothing is stored then).
    """
    try:
        with transaction(sessions) as session:
            found = plan(session, until)
            if found.empty:
                raise Conflict("there is nothing to claim: no Gift Aid gifts since the last claim")
            claim = GiftAidClaim(
                reference="pending-" + secrets.token_hex(8),
                until=until,
                rows=len(found.schedule.lines),
                total_minor=found.schedule.total_minor,
                adjustment_minor=found.adjustment_minor,
                created_at=now,
            )
            session.add(claim)
            session.flush()
            claim.reference = f"GA-{now:%Y%m%d}-{claim.id}"
            session.add_all(
                GiftAidClaimed(gift_id=gift, claim_id=claim.id, amount_minor=amount)
                for gift, amount in found.schedule.gift_amounts.items()
            )
            session.add_all(
                GiftAidAdjustment(gift_id=gift, claim_id=claim.id, amount_minor=amount)
                for gift, amount in found.adjustments
            )
            reference = claim.reference
            session.flush()  # a clash with a concurrent claim shows here, before writing
            write(reference, found)
    except IntegrityError:
        raise Conflict(
            "another Gift Aid claim took some of these gifts at the same moment; "
            "nothing was recorded, run the claim again"
        ) from None
    return reference, found


def claim_of(session: Session, gift_id: int) -> str:
    """The reference of the claim a gift was claimed in, "" if none."""
    found = session.scalar(
        select(GiftAidClaim.reference)
        .join(GiftAidClaimed, GiftAidClaimed.claim_id == GiftAidClaim.id)
        .where(GiftAidClaimed.gift_id == gift_id)
    )
    return found or ""
