"""How often a donor gives, and the states of a donation intent and of a gift.

Plain enums without SQLAlchemy, so pure modules (building a Checkout Session) can
use them; the tables in ``models`` store them.
"""

from __future__ import annotations

import enum


class Frequency(enum.StrEnum):
    ONCE = "once"
    MONTHLY = "monthly"


class IntentStatus(enum.StrEnum):
    CREATED = "created"  # recorded, Checkout Session not created yet
    OPEN = "open"  # donor sent to Checkout
    AWAITING_PAYMENT = "awaiting_payment"  # completed, bank transfer/debit still pending
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class GiftStatus(enum.StrEnum):
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
