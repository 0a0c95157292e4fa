"""campaigns: published web pages live in the database, not in a local folder

Revision ID: camp_0002
Revises: camp_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "camp_0002"
down_revision = "camp_0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "archive_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=400), nullable=False),
        sa.Column("briefing_date", sa.Date(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("published_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_archive_pages_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_pages")),
    )
    op.create_index("ix_archive_pages_slug", "archive_pages", ["slug", "published_at"])
    op.create_index(op.f("ix_archive_pages_campaign_id"), "archive_pages", ["campaign_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_archive_pages_campaign_id"), table_name="archive_pages")
    op.drop_index("ix_archive_pages_slug", table_name="archive_pages")
    op.drop_table("archive_pages")
