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
    with op.batch_alter_table("donations") as batch:
        batch.drop_column("receipt_claimed_at")
