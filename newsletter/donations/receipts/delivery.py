"""Sending each thank-you receipt exactly once.

A gift's receipt is *claimed* (``receipt_claimed_at``) before the mail goes out:
in the gift's own transaction by the webhook, or by a conditional UPDATE here, so
two workers never both send it. It is marked *sent* (``receipt_sent_at``) once the
transport took it. A failure releases the claim at once; a claim whose process
died is taken over after ``CLAIM_LEASE``, so a crash loses no receipt (the rare
price: a receipt mailed just before a crash, not yet marked, goes out twice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.donations.models import Gift
from newsletter.donations.receipts.content import Receipt, receipt_for

log = logging.getLogger(__name__)


class ReceiptSender(Protocol):
    """Sends one receipt; raises if it could not be handed to the mail transport."""

    def send(self, receipt: Receipt) -> None: ...


CLAIM_LEASE = timedelta(minutes=15)  # a claim older than this was left by a dead process
# A queued receipt whose claim is older than this is re-claimed before it is mailed:
# the rest of the lease outlasts any one SMTP exchange, so nobody can take it meanwhile.
RECLAIM_AFTER = timedelta(minutes=10)


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    """Receipts owed and free to claim: never claimed, or claimed by a process long gone."""
    return (
        Gift.receipt_sent_at.is_(None)
        & (Gift.donor_email != "")
        & or_(Gift.receipt_claimed_at.is_(None), Gift.receipt_claimed_at < now - CLAIM_LEASE)
    )


def state(gift: Gift) -> str:
    """What staff see: sent, sending (claimed by a live process) or pending."""
    if gift.receipt_sent_at is not None:
        return "sent"
    claimed = gift.receipt_claimed_at
    if claimed is not None and datetime.now(UTC) - claimed < CLAIM_LEASE:
        return "sending"
    return "pending"


def _claim(sessions: sessionmaker[Session], gift_id: int) -> Receipt | None:
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        claimed = session.execute(
            update(Gift).where(Gift.id == gift_id, _unclaimed(now)).values(receipt_claimed_at=now)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        gift = session.get(Gift, gift_id)
        return receipt_for(session, gift) if gift is not None else None


def release(sessions: sessionmaker[Session], receipt: Receipt) -> None:
    """Give a claimed receipt back, so the next ``send_pending`` sends it (unless
    someone else has claimed it since: then it is theirs)."""
    with transaction(sessions) as session:
        session.execute(
            update(Gift)
            .where(
                Gift.id == receipt.gift_id,
                Gift.receipt_sent_at.is_(None),
                Gift.receipt_claimed_at == receipt.claimed_at,
            )
            .values(receipt_claimed_at=None)
        )


def still_ours(sessions: sessionmaker[Session], receipt: Receipt) -> Receipt | None:
    """``receipt`` if its claim is still good to send under, renewed when it has aged;
    None if it lapsed and another process claimed (or sent) it meanwhile."""
    now = datetime.now(UTC)
    if receipt.claimed_at is not None and now - receipt.claimed_at < RECLAIM_AFTER:
        return receipt
    with transaction(sessions) as session:
        renewed = session.execute(
            update(Gift)
            .where(
                Gift.id == receipt.gift_id,
                Gift.receipt_sent_at.is_(None),
                or_(Gift.receipt_claimed_at == receipt.claimed_at, _unclaimed(now)),
            )
            .values(receipt_claimed_at=now)
        )
    if getattr(renewed, "rowcount", 0) != 1:
        return None
    return replace(receipt, claimed_at=now)


def mark_sent(sessions: sessionmaker[Session], gift_ids: Iterable[int]) -> None:
    """Record that the transport took these receipts (one statement for a batch)."""
    ids = list(gift_ids)
    if ids:
        with transaction(sessions) as session:
            session.execute(
                update(Gift)
                .where(Gift.id.in_(ids), Gift.receipt_sent_at.is_(None))
                .values(receipt_sent_at=datetime.now(UTC))
            )


def deliver_claimed(
    sessions: sessionmaker[Session], sender: ReceiptSender, receipts: Iterable[Receipt]
) -> int:
    """Send receipts already claimed in the gift's own transaction; release any that fail."""
    sent: list[int] = []
    for claimed in receipts:
        receipt = still_ours(sessions, claimed)
        if receipt is None:
            continue  # its claim lapsed and another process has it
        try:
            sender.send(receipt)
        except Exception:
            log.exception("receipt for gift %s not sent; it stays pending", receipt.gift_id)
            release(sessions, receipt)
            continue
        sent.append(receipt.gift_id)
    mark_sent(sessions, sent)
    return len(sent)


def pending(sessions: sessionmaker[Session], limit: int = 500) -> list[int]:
    """Gifts with an address whose receipt is owed and not being sent by a live process."""
    with sessions() as session:
        return list(
            session.scalars(
                select(Gift.id).where(_unclaimed(datetime.now(UTC))).order_by(Gift.id).limit(limit)
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
            continue  # already sent, being sent by a live worker, or no address
        try:
            sender.send(receipt)
        except Exception:
            release(sessions, receipt)
            raise
        mark_sent(sessions, [gift_id])
        sent += 1
    return sent
