"""campaigns: link tables, clicks, opens and bounce-collection runs for results reports

Revision ID: camp_0004
Revises: camp_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "camp_0004"
down_revision = "camp_0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _campaign_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["campaign_id"],
        ["campaigns.id"],
        name=op.f(f"fk_{table}_campaign_id_campaigns"),
        ondelete="CASCADE",
    )


def _subscriber_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["subscriber_id"],
        ["subscribers.id"],
        name=op.f(f"fk_{table}_subscriber_id_subscribers"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "campaign_links",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("text", sa.String(length=400), nullable=False),
        _campaign_fk("campaign_links"),
        sa.PrimaryKeyConstraint("campaign_id", "idx", name=op.f("pk_campaign_links")),
    )
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("link_idx", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("clicked_at", _TS, nullable=False),
        _campaign_fk("clicks"),
        _subscriber_fk("clicks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
    )
    op.create_index("ix_clicks_campaign", "clicks", ["campaign_id", "link_idx"])
    op.create_index(op.f("ix_clicks_subscriber_id"), "clicks", ["subscriber_id"])
    op.create_table(
        "opens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", _TS, nullable=False),
        _campaign_fk("opens"),
        _subscriber_fk("opens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opens")),
    )
    op.create_index(op.f("ix_opens_campaign_id"), "opens", ["campaign_id"])
    op.create_index(op.f("ix_opens_subscriber_id"), "opens", ["subscriber_id"])
    op.create_table(
        "bounce_collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collected_at", _TS, nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_collections")),
    )
    op.create_index(
        op.f("ix_bounce_collections_collected_at"), "bounce_collections", ["collected_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_bounce_collections_collected_at"), table_name="bounce_collections")
    op.drop_table("bounce_collections")
    op.drop_index(op.f("ix_opens_subscriber_id"), table_name="opens")
    op.drop_index(op.f("ix_opens_campaign_id"), table_name="opens")
    op.drop_table("opens")
    op.drop_index(op.f("ix_clicks_subscriber_id"), table_name="clicks")
    op.drop_index("ix_clicks_campaign", table_name="clicks")
    op.drop_table("clicks")
    op.drop_table("campaign_links")
