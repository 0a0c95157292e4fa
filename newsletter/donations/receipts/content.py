"""What a receipt says: the gift, the fee covered, once or monthly, the declaration.

The one place that decides a receipt's content, for the webhook's busy path (the
gift's own transaction) and for receipts sent later (reconcile, retries) alike.
Plain data out: templates never touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from newsletter.donations.amounts import format_amount
from newsletter.donations.intents import Extras, extras
from newsletter.donations.models import Gift


@dataclass(frozen=True)
class Declaration:
    """The Gift Aid declaration a donor made with the gift, in the words they were shown."""

    wording: str
    name: str
    address: str
    postcode: str


@dataclass(frozen=True)
class Receipt:
    """Everything a receipt shows, as plain data (templates never touch the database)."""

    gift_id: int
    to_address: str
    to_name: str
    amount: str  # what was charged, the fee covered included
    frequency: str
    paid_on: date
    reference: str
    campaign_id: int | None
    claimed_at: datetime | None = None  # the claim this copy was taken under (its token)
    given: str = ""  # the gift itself: ``amount`` less the fee covered
    fee: str = ""  # the card fee the donor chose to cover; "" when none
    declaration: Declaration | None = None


def compose(
    added: Extras | None,
    *,
    gift_id: int,
    to_address: str,
    to_name: str,
    amount_minor: int,
    currency: str,
    frequency: str,
    paid_on: date,
    reference: str,
    campaign_id: int | None,
    claimed_at: datetime | None,
) -> Receipt:
    """The receipt for one gift: the one place that decides what a receipt states (the
    amount given, the fee covered, once or monthly, the Gift Aid declaration).
    ``added`` is what the donor added on our form (``intents.extras``)."""
    fee = min(added.fee_minor, amount_minor) if added is not None else 0
    declaration = (
        Declaration(added.wording, added.name, added.address, added.postcode)
        if added is not None and added.gift_aid
        else None
    )
    return Receipt(
        gift_id=gift_id,
        to_address=to_address,
        to_name=to_name,
        amount=format_amount(amount_minor, currency),
        frequency=frequency,
        paid_on=paid_on,
        reference=reference,
        campaign_id=campaign_id,
        claimed_at=claimed_at,
        given=format_amount(amount_minor - fee, currency),
        fee=format_amount(fee, currency) if fee else "",
        declaration=declaration,
    )


def receipt_for(session: Session, gift: Gift) -> Receipt:
    return compose(
        extras(session, gift.intent_id),
        gift_id=gift.id,
        to_address=gift.donor_email,
        to_name=gift.donor_name,
        amount_minor=gift.amount_minor,
        currency=gift.currency,
        frequency=gift.frequency,
        paid_on=gift.paid_at.date(),
        reference=gift.source_id,
        campaign_id=gift.campaign_id,
        claimed_at=gift.receipt_claimed_at,
    )
