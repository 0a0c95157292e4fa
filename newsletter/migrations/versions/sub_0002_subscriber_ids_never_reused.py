"""subscribers: on SQLite, a deleted person's id is never given to someone else

Links carry the subscriber id (signed, and unsubscribe links never expire). Without
AUTOINCREMENT, SQLite hands the next person max(id) + 1, so erasing or removing the
newest person gave their id, and so their old links, to whoever signed up next.
PostgreSQL's sequences never reuse a value: nothing to do there.

The table is rebuilt the way SQLite documents (new table, copy, drop, rename), with
foreign-key enforcement off for the migration (see env.py) so dropping the old table
does not cascade to the rows that point at it.

Revision ID: sub_0002
Revises: sub_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sub_0002"
down_revision = "sub_0001"
branch_labels = None
depends_on = None

_COLUMNS = (
    "id, email, email_key, name, language, status, source, created_at, confirmed_at, updated_at"
)


def _subscribers(name: str, *, autoincrement: bool) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email_key", name="uq_subscribers_email_key"),
        sqlite_autoincrement=autoincrement,
    )


def _rebuild(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # DDL outside a transaction is committed at once in SQLite's Python driver: a
    # rebuild interrupted earlier may have left the new table behind.
    op.execute("DROP TABLE IF EXISTS subscribers_rebuilt")
    _subscribers("subscribers_rebuilt", autoincrement=autoincrement)
    op.execute(f"INSERT INTO subscribers_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM subscribers")  # noqa: S608 -- _COLUMNS is this file's constant
    op.execute("DROP TABLE subscribers")
    op.execute("ALTER TABLE subscribers_rebuilt RENAME TO subscribers")
    op.create_index("ix_subscribers_status", "subscribers", ["status"], unique=False)


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
