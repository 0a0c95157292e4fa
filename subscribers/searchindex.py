"""SQLite's trigram search table, brought up to date once at the end of a big import.

Triggers keep ``subscriber_search`` (FTS5, see ``search``) in step with ``subscribers``
row by row, which suits a sign-up or an edit. A big import pays dearly for it: FTS5
writes a row's trigrams to its in-memory buffer only in rising row order, so each
changed name of an earlier row (a row of the file that repeats an address with
another name) wrote the buffer to disk as a new segment, and the index was left in
thousands of pieces to merge.

So the import drops the triggers inside its own transaction and, at the end, adds
the new rows in one ordered statement and re-adds the changed ones; the triggers are
created again from their stored text before the commit. A file bigger than the list
also drops the ordinary index on the key (for one-letter searches) and builds it
again at the end: sorting once costs less than a million inserts at random places.
A failed or dry-run import rolls the drop back with everything else, and readers of
the database never see the table without its triggers: SQLite's schema changes are
part of the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TABLE = "subscriber_search"
TRIGGERS = ("subscriber_search_insert", "subscriber_search_update", "subscriber_search_delete")
PREFIX_INDEX = "ix_subscribers_search_prefix"
_CATCH_UP_HASH = 16 * 1024 * 1024
"""Bytes of trigrams FTS5 gathers in memory before writing a segment while catching up:
its 1 MB default wrote a million people's trigrams in some hundred pieces to merge, and
took two thirds longer than this (a larger one was no faster)."""
_DEFAULT_HASH = 1024 * 1024  # FTS5's own, given back when the table had none set
_CHUNK = 5000


class HeldIndex:
    """The search table of one import's transaction, brought up to date by ``catch_up``."""

    def __init__(self, raw: Any, dropped: list[tuple[str, str]], last_old: int) -> None:
        self.raw = raw
        self.dropped = dropped  # (name, CREATE statement) of triggers and index, as stored
        self.last_old = last_old  # rows up to this id were in the index when it was held
        self.renamed: set[int] = set()  # older rows taken out of the index, to add back

    @classmethod
    def hold(cls, raw: Any, rows: int) -> HeldIndex | None:
        """Drop the triggers (and the prefix index, for a file of ``rows`` rows bigger
        than the list) in a transaction begun here if none is open yet. None: this
        database has no such table, or not all of its triggers."""
        cursor = raw.cursor()
        marks = ", ".join("?" * len(TRIGGERS))
        found = cursor.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",  # noqa: S608 -- marks only
            TRIGGERS,
        ).fetchall()
        if len(found) != len(TRIGGERS):
            cursor.close()
            return None
        if not raw.in_transaction:
            cursor.execute("BEGIN")  # DDL outside a transaction would be kept for good
        last_old = cursor.execute("SELECT coalesce(max(id), 0) FROM subscribers").fetchone()[0]
        if rows > cursor.execute("SELECT count(*) FROM subscribers").fetchone()[0]:
            found += cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                (PREFIX_INDEX,),
            ).fetchall()
        for name, _ in found:
            kind = "INDEX" if name == PREFIX_INDEX else "TRIGGER"
            cursor.execute(f'DROP {kind} "{name}"')
        cursor.close()
        return cls(raw, [(name, sql) for name, sql in found], last_old)

    def before_rename(self, ids: Sequence[int]) -> None:
        """Take older rows out of the index before their search key changes: the table
        keeps no copy of the text, so the old key must be given while it is stored."""
        older = sorted({i for i in ids if i <= self.last_old} - self.renamed)
        if not older:
            return
        self.renamed.update(older)
        cursor = self.raw.cursor()
        _for_ids(
            cursor,
            f"INSERT INTO {TABLE} ({TABLE}, rowid, search_key) SELECT 'delete', id, "  # noqa: S608 -- constants only
            "search_key FROM subscribers WHERE id IN ({marks}) ORDER BY id",
            older,
        )
        cursor.close()

    def catch_up(self) -> None:
        """Index the renamed and the new rows, each in rising order, then put back
        what ``hold`` dropped."""
        cursor = self.raw.cursor()
        stored = cursor.execute(
            f"SELECT v FROM {TABLE}_config WHERE k = 'hashsize'"  # noqa: S608 -- constant
        ).fetchone()
        configure = f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('hashsize', ?)"  # noqa: S608 -- constant
        cursor.execute(configure, (_CATCH_UP_HASH,))
        _for_ids(
            cursor,
            f"INSERT INTO {TABLE} (rowid, search_key) SELECT id, search_key FROM "  # noqa: S608 -- constants only
            "subscribers WHERE id IN ({marks}) ORDER BY id",
            sorted(self.renamed),
        )
        cursor.execute(
            f"INSERT INTO {TABLE} (rowid, search_key) SELECT id, search_key FROM subscribers "  # noqa: S608 -- constants only
            "WHERE id > ? ORDER BY id",
            (self.last_old,),
        )
        cursor.execute(configure, (stored[0] if stored else _DEFAULT_HASH,))
        for _, sql in self.dropped:
            cursor.execute(sql)
        cursor.close()
        self.renamed = set()


def _for_ids(cursor: Any, statement: str, ids: Sequence[int]) -> None:
    """Run ``statement`` for ``ids`` (in that order), ``{marks}`` standing for a chunk's."""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        cursor.execute(statement.format(marks=",".join("?" * len(chunk))), chunk)
