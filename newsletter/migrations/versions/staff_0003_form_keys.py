"""staff: one-time keys of forms that must act once (a double-clicked send)

Revision ID: staff_0003
Revises: staff_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "staff_0003"
down_revision = "staff_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_form_keys",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("spent_by", sa.String(length=320), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_staff_form_keys")),
    )


def downgrade() -> None:
    op.drop_table("staff_form_keys")
