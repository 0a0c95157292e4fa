"""donations: a receipt's claim is kept apart from its sending

Revision ID: don_0002
Revises: don_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "don_0002"
down_revision = "don_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("donations") as batch:
        batch.add_column(sa.Column("receipt_claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it rebuilds the table, and dropping the old one would
    # fire donation_adjustments' ON DELETE SET NULL, unlinking every refund.
    op.execute("ALTER TABLE donations DROP COLUMN receipt_claimed_at")
