"""staff: briefings kept by the console, every saved version with who saved it

Revision ID: staff_0002
Revises: staff_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "staff_0002"
down_revision = "staff_0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "briefings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
    )
    op.create_table(
        "briefing_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("briefing_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("saved_by", sa.String(length=320), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["briefing_id"],
            ["briefings.id"],
            name=op.f("fk_briefing_versions_briefing_id_briefings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefing_versions")),
        sa.UniqueConstraint("briefing_id", "number", name=op.f("uq_briefing_versions_briefing_id")),
    )
    op.create_index(op.f("ix_briefing_versions_briefing_id"), "briefing_versions", ["briefing_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_briefing_versions_briefing_id"), table_name="briefing_versions")
    op.drop_table("briefing_versions")
    op.drop_table("briefings")
