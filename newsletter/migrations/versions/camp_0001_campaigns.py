"""campaigns: campaigns, per-recipient ledger, bounce events

Revision ID: camp_0001
Revises:
Depends on: sub_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "camp_0001"
down_revision = None
branch_labels = ("campaigns",)
depends_on = "sub_0001"

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("briefing_path", sa.String(length=1000), nullable=False),
        sa.Column("briefing_slug", sa.String(length=200), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("topic_list_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=False),
        sa.Column("lint_override", sa.Boolean(), nullable=False),
        sa.Column("send_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_campaigns_list_id_lists"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["topic_list_id"],
            ["lists.id"],
            name=op.f("fk_campaigns_topic_list_id_lists"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_status"), "campaigns", ["status"], unique=False)

    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_campaign_recipients_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "subscriber_id", name=op.f("uq_campaign_recipients_campaign_id")
        ),
    )
    op.create_index(
        "ix_campaign_recipients_due",
        "campaign_recipients",
        ["campaign_id", "state", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_campaign_recipients_subscriber_id"),
        "campaign_recipients",
        ["subscriber_id"],
        unique=False,
    )

    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_bounce_events_subscriber_id_subscribers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_bounce_events_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_events")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_bounce_events_fingerprint")),
    )
    op.create_index(
        "ix_bounce_events_subscriber",
        "bounce_events",
        ["subscriber_id", "kind", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_bounce_events_subscriber", table_name="bounce_events")
    op.drop_table("bounce_events")
    op.drop_index(op.f("ix_campaign_recipients_subscriber_id"), table_name="campaign_recipients")
    op.drop_index("ix_campaign_recipients_due", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_index(op.f("ix_campaigns_status"), table_name="campaigns")
    op.drop_table("campaigns")
