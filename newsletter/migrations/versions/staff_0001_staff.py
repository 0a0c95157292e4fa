"""staff: console accounts, sign-in sessions, one-time links, failed sign-ins, audit trail

Revision ID: staff_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "staff_0001"
down_revision = None
branch_labels = ("staff",)
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"])
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_table(
        "staff_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=False),
        sa.Column("recovery_codes", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint("email_key", name=op.f("uq_staff_members_email_key")),
    )
    op.create_table(
        "staff_sign_in_failures",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", WHEN, nullable=False),
        sa.Column("locked_until", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_staff_sign_in_failures")),
    )
    tables: tuple[tuple[str, str, list[sa.Column[object]]], ...] = (
        (
            "staff_links",
            "token_hash",
            [
                sa.Column("purpose", sa.String(length=16), nullable=False),
                sa.Column("expires", WHEN, nullable=False),
                sa.Column("used_at", WHEN, nullable=True),
            ],
        ),
        (
            "staff_sessions",
            "id_hash",
            [
                sa.Column("created_at", WHEN, nullable=False),
                sa.Column("last_seen", WHEN, nullable=False),
                sa.Column("ip", sa.String(length=64), nullable=False),
                sa.Column("pending_second_factor", sa.Boolean(), nullable=False),
            ],
        ),
    )
    for name, key, extra in tables:
        op.create_table(
            name,
            sa.Column(key, sa.String(length=64), nullable=False),
            sa.Column("staff_id", sa.Integer(), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(
                ["staff_id"],
                ["staff_members.id"],
                name=op.f(f"fk_{name}_staff_id_staff_members"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(key, name=op.f(f"pk_{name}")),
        )
        op.create_index(op.f(f"ix_{name}_staff_id"), name, ["staff_id"])


def downgrade() -> None:
    for name in ("staff_sessions", "staff_links", "staff_sign_in_failures", "staff_members"):
        op.drop_table(name)
    op.drop_table("audit_events")
