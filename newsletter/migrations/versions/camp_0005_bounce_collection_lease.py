"""campaigns: one bounce-mailbox reader at a time, across workers and serve loops

Revision ID: camp_0005
Revises: camp_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "camp_0005"
down_revision = "camp_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounce_collection_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bounce_collection_lease")),
    )


def downgrade() -> None:
    op.drop_table("bounce_collection_lease")
