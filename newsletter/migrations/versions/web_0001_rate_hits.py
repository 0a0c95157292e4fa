"""web: rate-limit counters shared by every web process

Revision ID: web_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = None
branch_labels = ("web",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_hits",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "bucket", name=op.f("pk_rate_hits")),
    )
    op.create_index(op.f("ix_rate_hits_expires"), "rate_hits", ["expires"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_hits_expires"), table_name="rate_hits")
    op.drop_table("rate_hits")
