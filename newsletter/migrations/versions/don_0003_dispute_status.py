"""donations: a charge's dispute keeps its latest status, so a won dispute gives money back

Revision ID: don_0003
Revises: don_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "don_0003"
down_revision = "don_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("donation_adjustments") as batch:
        batch.add_column(
            sa.Column("dispute_status", sa.String(40), nullable=False, server_default="")
        )


def downgrade() -> None:
    op.execute("ALTER TABLE donation_adjustments DROP COLUMN dispute_status")
