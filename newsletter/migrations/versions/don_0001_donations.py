"""donations: intents, gifts, monthly gifts, refund/dispute adjustments, Stripe events

Revision ID: don_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "don_0001"
down_revision = None
branch_labels = ("donations",)
depends_on = "sub_0001"

TS = sa.DateTime(timezone=True)


def _fk_subscriber(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["subscriber_id"],
        ["subscribers.id"],
        name=op.f(f"fk_{table}_subscriber_id_subscribers"),
        ondelete="SET NULL",
    )


def _fk_intent(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["intent_id"],
        ["donation_intents.id"],
        name=op.f(f"fk_{table}_intent_id_donation_intents"),
        ondelete="SET NULL",
    )


def upgrade() -> None:
    op.create_table(
        "donation_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("fee_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("gift_aid", sa.Boolean(), nullable=False),
        sa.Column("gift_aid_name", sa.String(length=200), nullable=False),
        sa.Column("gift_aid_address", sa.Text(), nullable=False),
        sa.Column("gift_aid_postcode", sa.String(length=20), nullable=False),
        sa.Column("gift_aid_wording", sa.Text(), nullable=False),
        sa.Column("gift_aid_version", sa.String(length=40), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        _fk_subscriber("donation_intents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donation_intents")),
        sa.UniqueConstraint("public_id", name=op.f("uq_donation_intents_public_id")),
        sa.UniqueConstraint(
            "checkout_session_id", name=op.f("uq_donation_intents_checkout_session_id")
        ),
    )
    op.create_index(op.f("ix_donation_intents_campaign_id"), "donation_intents", ["campaign_id"])

    op.create_table(
        "donation_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("intent_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("donor_email", sa.String(length=320), nullable=False),
        sa.Column("donor_name", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("status_at", sa.Integer(), nullable=False),
        sa.Column("canceled_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk_intent("donation_subscriptions"),
        _fk_subscriber("donation_subscriptions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donation_subscriptions")),
        sa.UniqueConstraint(
            "subscription_id", name=op.f("uq_donation_subscriptions_subscription_id")
        ),
    )
    op.create_index(
        op.f("ix_donation_subscriptions_customer_id"), "donation_subscriptions", ["customer_id"]
    )
    op.create_index(
        op.f("ix_donation_subscriptions_donor_email"), "donation_subscriptions", ["donor_email"]
    )

    op.create_table(
        "donations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("intent_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("donor_email", sa.String(length=320), nullable=False),
        sa.Column("donor_name", sa.String(length=200), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("refunded_minor", sa.Integer(), nullable=False),
        sa.Column("disputed_minor", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("paid_at", TS, nullable=False),
        sa.Column("receipt_sent_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk_intent("donations"),
        _fk_subscriber("donations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
        sa.UniqueConstraint("source_id", name=op.f("uq_donations_source_id")),
    )
    op.create_index(op.f("ix_donations_campaign_id"), "donations", ["campaign_id"])
    op.create_index(op.f("ix_donations_subscription_id"), "donations", ["subscription_id"])
    op.create_index(op.f("ix_donations_payment_intent_id"), "donations", ["payment_intent_id"])

    op.create_table(
        "donation_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("invoice_id", sa.String(length=255), nullable=True),
        sa.Column("refunded_minor", sa.Integer(), nullable=False),
        sa.Column("disputed_minor", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["gift_id"],
            ["donations.id"],
            name=op.f("fk_donation_adjustments_gift_id_donations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donation_adjustments")),
        sa.UniqueConstraint("charge_id", name=op.f("uq_donation_adjustments_charge_id")),
    )
    op.create_index(
        op.f("ix_donation_adjustments_payment_intent_id"),
        "donation_adjustments",
        ["payment_intent_id"],
    )

    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_stripe_events_event_id")),
    )
    op.create_index(op.f("ix_stripe_events_created"), "stripe_events", ["created"])


def downgrade() -> None:
    op.drop_table("stripe_events")
    op.drop_table("donation_adjustments")
    op.drop_table("donations")
    op.drop_table("donation_subscriptions")
    op.drop_table("donation_intents")
