"""A gift's status after refunds and disputes, the one rule every path asks."""

from __future__ import annotations

import pytest

from newsletter.donations.standing import status_after
from newsletter.donations.states import GiftStatus


@pytest.mark.parametrize(
    ("refunded", "disputed", "expected"),
    [
        (0, 0, GiftStatus.PAID),
        (500, 0, GiftStatus.PARTIALLY_REFUNDED),
        (2500, 0, GiftStatus.REFUNDED),
        (0, 2500, GiftStatus.DISPUTED),
        (500, 2000, GiftStatus.DISPUTED),  # a dispute withholding money outranks a refund
        (2500, 2500, GiftStatus.DISPUTED),
    ],
)
def test_status_after_refunds_and_disputes(
    refunded: int, disputed: int, expected: GiftStatus
) -> None:
    assert status_after(2500, refunded, disputed) is expected
