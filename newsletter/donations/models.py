"""Tables of the donations domain.

Money is stored as Stripe reports it (integer minor units plus currency). Every
row that Stripe can announce twice carries a unique Stripe id (``source_id``,
``subscription_id``, ``charge_id``, ``event_id``), so a repeated or concurrent
delivery hits a unique constraint instead of counting a gift twice. Campaigns are
referenced by plain integer: that table belongs to another domain's migrations.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.donations.states import GiftStatus, IntentStatus
from subscribers.orm import Base, UTCDateTime, utcnow


class DonationIntent(Base):
    """What the donor asked for on our form, before Stripe has taken any money."""

    __tablename__ = "donation_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    frequency: Mapped[str] = mapped_column(String(10))
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=IntentStatus.CREATED)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    gift_aid: Mapped[bool] = mapped_column(Boolean, default=False)
    gift_aid_name: Mapped[str] = mapped_column(String(200), default="")
    gift_aid_address: Mapped[str] = mapped_column(Text, default="")
    gift_aid_postcode: Mapped[str] = mapped_column(String(20), default="")
    gift_aid_wording: Mapped[str] = mapped_column(Text, default="")
    gift_aid_version: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RecurringGift(Base):
    """A monthly gift (a Stripe subscription); its instalments are ``Gift`` rows."""

    __tablename__ = "donation_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    intent_id: Mapped[int | None] = mapped_column(
        ForeignKey("donation_intents.id", ondelete="SET NULL"), nullable=True
    )
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    donor_email: Mapped[str] = mapped_column(String(320), default="", index=True)
    donor_name: Mapped[str] = mapped_column(String(200), default="")
    amount_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="")
    status: Mapped[str] = mapped_column(String(30), default="active")
    status_at: Mapped[int] = mapped_column(Integer, default=0)  # Stripe event time of status
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Gift(Base):
    """Money received: one one-time gift, or one paid monthly instalment."""

    __tablename__ = "donations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The Stripe object that proves the payment: ``cs_...`` (one-time) or ``in_...``.
    source_id: Mapped[str] = mapped_column(String(255), unique=True)
    frequency: Mapped[str] = mapped_column(String(10))
    intent_id: Mapped[int | None] = mapped_column(
        ForeignKey("donation_intents.id", ondelete="SET NULL"), nullable=True
    )
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True
    )
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    donor_email: Mapped[str] = mapped_column(String(320), default="")
    donor_name: Mapped[str] = mapped_column(String(200), default="")
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    customer_id: Mapped[str] = mapped_column(String(255), default="")
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default=GiftStatus.PAID)
    refunded_minor: Mapped[int] = mapped_column(Integer, default=0)
    disputed_minor: Mapped[int] = mapped_column(Integer, default=0)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A receipt is claimed (by the webhook's transaction, or by reconcile) before it is
    # mailed, and marked sent once the transport took it; a claim whose sender died
    # is taken over after ``receipts.CLAIM_LEASE``.
    receipt_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    receipt_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.refunded_minor - self.disputed_minor


class ChargeAdjustment(Base):
    """Refunds and disputes per Stripe charge, kept even when the gift is not known yet.

    ``disputed_minor`` is what a dispute withholds now: the whole amount while a
    chargeback is open or lost, nothing for an inquiry or once the dispute is won.

    Stripe may announce a refund before we have seen the payment; the adjustment
    waits here and is applied the moment the gift is recorded.
    """

    __tablename__ = "donation_adjustments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    charge_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    refunded_minor: Mapped[int] = mapped_column(Integer, default=0)
    disputed_minor: Mapped[int] = mapped_column(Integer, default=0)
    #: The dispute's latest Stripe status (``adjustments.DISPUTE_STAGES``); "" while none.
    dispute_status: Mapped[str] = mapped_column(String(40), default="", server_default="")
    gift_id: Mapped[int | None] = mapped_column(
        ForeignKey("donations.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StripeEventRecord(Base):
    """Every Stripe event applied, stored in the same transaction as its effect."""

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(Integer, index=True)  # Stripe's Unix time
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GiftAidClaim(Base):
    """One Gift Aid claim made to HMRC: its reference marks every gift it claimed."""

    __tablename__ = "gift_aid_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    until: Mapped[date] = mapped_column(Date)  # gifts paid up to and including this day
    rows: Mapped[int] = mapped_column(Integer, default=0)
    total_minor: Mapped[int] = mapped_column(Integer, default=0)
    #: donations claimed before and refunded or disputed since (HMRC's adjustment)
    adjustment_minor: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GiftAidClaimed(Base):
    """A gift claimed in a claim: the unique gift id is what stops a second claim."""

    __tablename__ = "gift_aid_claimed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gift_id: Mapped[int] = mapped_column(
        ForeignKey("donations.id", ondelete="CASCADE"), unique=True
    )
    claim_id: Mapped[int] = mapped_column(ForeignKey("gift_aid_claims.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)


class GiftAidAdjustment(Base):
    """Part of a claimed gift given back (refund, dispute), declared in a later claim."""

    __tablename__ = "gift_aid_adjustments"
    __table_args__ = (UniqueConstraint("gift_id", "claim_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("donations.id", ondelete="CASCADE"))
    claim_id: Mapped[int] = mapped_column(ForeignKey("gift_aid_claims.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
