"""donations: Gift Aid claims, the gifts each claimed, and later adjustments

Revision ID: don_0004
Revises: don_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "don_0004"
down_revision = "don_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gift_aid_claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("until", sa.Date, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("total_minor", sa.Integer, nullable=False),
        sa.Column("adjustment_minor", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "gift_aid_claimed",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "gift_id",
            sa.Integer,
            sa.ForeignKey("donations.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column(
            "claim_id", sa.Integer, sa.ForeignKey("gift_aid_claims.id"), nullable=False, index=True
        ),
        sa.Column("amount_minor", sa.Integer, nullable=False),
    )
    op.create_table(
        "gift_aid_adjustments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "gift_id", sa.Integer, sa.ForeignKey("donations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "claim_id", sa.Integer, sa.ForeignKey("gift_aid_claims.id"), nullable=False, index=True
        ),
        sa.Column("amount_minor", sa.Integer, nullable=False),
        sa.UniqueConstraint("gift_id", "claim_id"),
    )


def downgrade() -> None:
    op.drop_table("gift_aid_adjustments")
    op.drop_table("gift_aid_claimed")
    op.drop_table("gift_aid_claims")
