"""subscribers: tags, staff's private labels on people

Tags are not lists: nobody chooses them on a public form and no public page shows
them. Only new tables (people's tags, and the tag a campaign is narrowed to), so this
revision stands on its own.

Revision ID: sub_0004
Revises: sub_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sub_0004"
down_revision = "sub_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("slug", name=op.f("uq_tags_slug")),
    )
    op.create_table(
        "subscriber_tags",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscriber_tags_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["tags.id"],
            name=op.f("fk_subscriber_tags_tag_id_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "tag_id", name=op.f("pk_subscriber_tags")),
    )
    op.create_index(op.f("ix_subscriber_tags_tag_id"), "subscriber_tags", ["tag_id"], unique=False)
    # The tag a campaign is narrowed to; no foreign key to campaigns, whose tables
    # belong to another chain of migrations.
    op.create_table(
        "campaign_tags",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["tags.id"],
            name=op.f("fk_campaign_tags_tag_id_tags"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_tags")),
    )
    op.create_index(op.f("ix_campaign_tags_tag_id"), "campaign_tags", ["tag_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_tags_tag_id"), table_name="campaign_tags")
    op.drop_table("campaign_tags")
    op.drop_index(op.f("ix_subscriber_tags_tag_id"), table_name="subscriber_tags")
    op.drop_table("subscriber_tags")
    op.drop_table("tags")
