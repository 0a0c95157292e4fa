"""What a gift stands at after refunds and disputes: the one rule for its status.

Stripe reports running totals per charge (refunded so far, disputed now); the
webhook keeps the largest of each per gift. Whichever event comes last (the
payment after its refund, or the refund after its payment) asks this function,
so a gift's status never depends on the order Stripe's events arrive in.
"""

from __future__ import annotations

from newsletter.donations.states import GiftStatus


def status_after(amount_minor: int, refunded_minor: int, disputed_minor: int) -> GiftStatus:
    """Disputed while a dispute withholds money; else refunded, partly, or paid."""
    if disputed_minor:
        return GiftStatus.DISPUTED
    if refunded_minor >= amount_minor:
        return GiftStatus.REFUNDED
    if refunded_minor:
        return GiftStatus.PARTIALLY_REFUNDED
    return GiftStatus.PAID
