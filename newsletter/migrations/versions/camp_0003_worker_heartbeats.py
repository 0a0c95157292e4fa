"""campaigns: worker heartbeats, so a campaign nobody is sending can be seen

Revision ID: camp_0003
Revises: camp_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "camp_0003"
down_revision = "camp_0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaign_workers",
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("standby", sa.Boolean(), nullable=False),
        sa.Column("lease_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_campaign_workers")),
    )
    op.create_index(op.f("ix_campaign_workers_seen_at"), "campaign_workers", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_workers_seen_at"), table_name="campaign_workers")
    op.drop_table("campaign_workers")
