"""staff: console imports kept in the database, so any web process shows their progress

Revision ID: staff_0004
Revises: staff_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "staff_0004"
down_revision = "staff_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_imports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff", sa.String(length=320), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("read_bytes", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_imports")),
    )
    op.create_index(
        op.f("ix_console_imports_started_at"), "console_imports", ["started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_console_imports_started_at"), table_name="console_imports")
    op.drop_table("console_imports")
