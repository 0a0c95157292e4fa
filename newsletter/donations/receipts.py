"""Thank-you receipts: what one says, and sending each exactly once.

A gift's ``receipt_sent_at`` is claimed with a conditional UPDATE in its own
short transaction before the mail goes out; if sending fails the claim is
released so ``donations reconcile`` (or the next delivery) tries again. Two
workers can never both win the claim, so nobody gets two receipts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.donations.amounts import format_amount
from newsletter.donations.models import Gift

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    """Everything a receipt shows, as plain data (templates never touch the database)."""

    gift_id: int
    to_address: str
    to_name: str
    amount: str
    frequency: str
    paid_on: date
    reference: str
    campaign_id: int | None


class ReceiptSender(Protocol):
    """Sends one receipt; raises if it could not be handed to the mail transport."""

    def send(self, receipt: Receipt) -> None: ...


def receipt_for(gift: Gift) -> Receipt:
    return Receipt(
        gift_id=gift.id,
        to_address=gift.donor_email,
        to_name=gift.donor_name,
        amount=format_amount(gift.amount_minor, gift.currency),
        frequency=gift.frequency,
        paid_on=gift.paid_at.date(),
        reference=gift.source_id,
        campaign_id=gift.campaign_id,
    )


def _claim(sessions: sessionmaker[Session], gift_id: int) -> Receipt | None:
    with transaction(sessions) as session:
        claimed = session.execute(
            update(Gift)
            .where(Gift.id == gift_id, Gift.receipt_sent_at.is_(None), Gift.donor_email != "")
            .values(receipt_sent_at=datetime.now(UTC))
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        gift = session.get(Gift, gift_id)
        return receipt_for(gift) if gift is not None else None


def _release(sessions: sessionmaker[Session], gift_id: int) -> None:
    with transaction(sessions) as session:
        session.execute(update(Gift).where(Gift.id == gift_id).values(receipt_sent_at=None))


def release(sessions: sessionmaker[Session], gift_id: int) -> None:
    """Give a claimed receipt back, so the next ``send_pending`` sends it."""
    _release(sessions, gift_id)


def deliver_claimed(
    sessions: sessionmaker[Session], sender: ReceiptSender, receipts: Iterable[Receipt]
) -> int:
    """Send receipts already claimed in the gift's own transaction; release any that fail."""
    sent = 0
    for receipt in receipts:
        try:
            sender.send(receipt)
        except Exception:
            log.exception("receipt for gift %s not sent; it stays pending", receipt.gift_id)
            _release(sessions, receipt.gift_id)
            continue
        sent += 1
    return sent


def pending(sessions: sessionmaker[Session], limit: int = 500) -> list[int]:
    """Gifts with an address whose receipt has not gone out."""
    with sessions() as session:
        return list(
            session.scalars(
                select(Gift.id)
                .where(Gift.receipt_sent_at.is_(None), Gift.donor_email != "")
                .order_by(Gift.id)
                .limit(limit)
            )
        )


def send_pending(
    sessions: sessionmaker[Session], sender: ReceiptSender, gift_ids: Iterable[int] | None = None
) -> int:
    """Send the receipts still owed (for ``gift_ids`` or all); returns how many went out."""
    sent = 0
    for gift_id in pending(sessions) if gift_ids is None else gift_ids:
        receipt = _claim(sessions, gift_id)
        if receipt is None:
            continue  # already sent, being sent by another worker, or no address
        try:
            sender.send(receipt)
        except Exception:
            _release(sessions, gift_id)
            raise
        sent += 1
    return sent
