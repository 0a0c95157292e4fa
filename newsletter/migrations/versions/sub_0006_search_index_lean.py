"""subscribers: SQLite's trigram table keeps no positions

The FTS5 table over ``subscribers.search_key`` (sub_0005) kept each trigram's position
in each key, which only phrase queries need; its upkeep was the largest part of a big
import's work. Search now asks the table with ``LIKE`` (which the trigram tokenizer
answers from the trigrams alone) and confirms the exact substring on the few rows
found, so the table is rebuilt with ``detail=none`` and without column sizes: about
half the work per row written. PostgreSQL is unchanged.

Revision ID: sub_0006
Revises: sub_0005
"""

from __future__ import annotations

from alembic import op

revision = "sub_0006"
down_revision = "sub_0005"
branch_labels = None
depends_on = None


def _recreate(options: str) -> None:
    """The table anew with ``options``, filled from ``subscribers`` (its triggers, which
    name the table, keep working)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE IF EXISTS subscriber_search")
    op.execute(
        "CREATE VIRTUAL TABLE subscriber_search USING fts5(search_key, content='subscribers', "
        f"content_rowid='id', tokenize='trigram'{options})"
    )
    op.execute("INSERT INTO subscriber_search(subscriber_search) VALUES ('rebuild')")


def upgrade() -> None:
    _recreate(", detail=none, columnsize=0")


def downgrade() -> None:
    _recreate("")
