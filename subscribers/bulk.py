"""Bulk reads and writes for the importer: one statement per batch instead of one per row.

They run on the DB-API connection underneath the session (same transaction),
because SQLAlchemy's per-parameter processing costs more than SQLite's own
insert at a million rows. SQLite gets one ``INSERT ... SELECT`` over a JSON array
per table and batch; PostgreSQL gets ``COPY`` text, with ids drawn from the
sequence in one round trip, sent by a thread so the next batch is being prepared
while the server takes it in. Either way the database's own work (three tables, six
indexes, foreign keys) is now the larger part of an import.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from subscribers.addresses import address_hash
from subscribers.errors import Conflict
from subscribers.folding import key as search_key
from subscribers.models import Subscriber
from subscribers.orm import FOREIGN_KEYS_OFF
from subscribers.searchindex import HeldIndex
from subscribers.seenkeys import SeenKeys

_CHUNK = 5000
# A batch's new rows go to SQLite as one JSON array read by ``json_each`` in a
# single INSERT ... SELECT: binding nine parameters a row through ``executemany``
# cost more than SQLite's own insert. ``->>`` needs SQLite 3.38; older ones bind.
_JSON_EACH = sqlite3.sqlite_version_info >= (3, 38)
_SQLITE_CACHE_KB = 64 * 1024
_PRELOAD_SUPPRESSIONS = 200_000
_SUBSCRIBER_COLUMNS = (
    "email",
    "email_key",
    "name",
    "language",
    "status",
    "source",
    "created_at",
    "confirmed_at",
    "updated_at",
    "search_key",
)
_CONSENT_COLUMNS = ("subscriber_id", "action", "lists", "at", "ip", "user_agent", "form", "wording")
_SUBSCRIPTION_COLUMNS = ("subscriber_id", "list_id", "subscribed", "updated_at")

_WRITTEN = ("subscribers", "subscriptions", "consent_log", "subscriber_tags")

Existing = tuple[int, str, str, str]  # id, status, name, language


class BrokenReference(Conflict):
    """A written row refers to a person or list that no longer exists: removed by
    someone else while the import ran. Nothing is committed; running it again works."""


def _reference_checks(cursor: Any, table: str, first_new: dict[str, int]) -> list[str]:
    """Queries finding a row of ``table`` after a rowid whose foreign key has no parent;
    read from the schema, so a key added later is checked too.

    A key naming by id a parent this import wrote itself (``first_new``: the table's
    last rowid before it) is looked up only when the parent is older than the import:
    the new parents are one unbroken run of ids that nothing removes inside the
    import's transaction, so a reference to one of them is checked against the run's
    end instead of row by row (a million lookups on a first import).
    """
    keys: dict[int, list[tuple[str, str, str]]] = {}
    for row in cursor.execute(f"PRAGMA foreign_key_list({table})").fetchall():
        keys.setdefault(row[0], []).append((row[2], row[3], row[4]))
    checks = []
    for columns in keys.values():
        parent = columns[0][0]
        on = " AND ".join(f'p."{to or "rowid"}" = c."{child}"' for _, child, to in columns)
        present = " AND ".join(f'c."{child}" IS NOT NULL' for _, child, _ in columns)
        missing = f'NOT EXISTS (SELECT 1 FROM "{parent}" AS p WHERE {on})'  # noqa: S608 -- names from the schema
        if len(columns) == 1 and columns[0][2] in (None, "id") and parent in first_new:
            child, old = columns[0][1], int(first_new[parent])
            newest = f'(SELECT coalesce(max(rowid), 0) FROM "{parent}")'  # noqa: S608 -- names from the schema
            missing = f'(c."{child}" <= {old} AND {missing} OR c."{child}" > {newest})'
        checks.append(
            f"SELECT c.rowid, '{parent}' FROM \"{table}\" AS c WHERE c.rowid > ? AND {present} "  # noqa: S608 -- table from _WRITTEN, the rest from its own schema
            f"AND {missing} LIMIT 1"
        )
    return checks


class Writer:
    """Batch operations for SQLite (and the base for PostgreSQL)."""

    batch_size = 5000
    """Rows a batch: bigger ones did not make SQLite faster, only the process bigger."""
    overlaps = False
    """Whether the file is best read ahead in a thread while this database works (see
    ``read_ahead``): not for SQLite, which hands Python's lock back for every row."""
    hold_index_from = 10_000
    """Rows a file must bring for the search table to be brought up to date once at
    the end instead of row by row (see ``searchindex``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.conn = session.connection()
        self.raw: Any = self.conn.connection.driver_connection
        table: Table = Subscriber.__table__  # type: ignore[assignment]
        # The dialect's own processor, as the ORM uses it: on SQLite it renders the
        # text SQLAlchemy stores, once a batch, instead of sqlite3 adapting a
        # datetime for every row (which also stored a different text form).
        dialect = self.conn.dialect
        processor = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._time: Callable[[datetime], Any] = processor or (lambda value: value)
        self._suppressions: set[str] | None = None
        self.triggers_skipped = False
        self._query_suppressions = False
        self._cache_size = 0
        self._first_new: dict[str, int] = {}  # foreign keys off: table -> its last old rowid
        self._index: HeldIndex | None = None
        self.seen: SeenKeys | None = None
        """Set by a writer that has the importer remember the addresses written instead
        of looking each one up (``PostgresWriter.expect``); see ``Merger.batch``."""

    def _sql(self, statement: str) -> str:
        return statement

    def start(self) -> None:
        """Prepare the connection, before the import's first statement.

        A bigger page cache: B-tree pages of the indexes stay in memory instead of
        spilling to the WAL again and again (the import is one transaction). And no
        foreign-key checks row by row: every row the import writes refers to a person
        or list it has just written or read in the same transaction, so ``finish``
        checks the new rows once, in bulk, and fails the import if any is broken. The
        pragma works only outside a transaction, so it is left alone inside one; the
        pool turns the checks back on when the connection is returned.
        """
        cursor = self.raw.cursor()
        self._cache_size = cursor.execute("PRAGMA cache_size").fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KB}")
        if not self.raw.in_transaction and cursor.execute("PRAGMA foreign_keys").fetchone()[0]:
            self._first_new = {
                table: cursor.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0]  # noqa: S608 -- table from _WRITTEN
                for table in _WRITTEN
            }
            self.conn.info[FOREIGN_KEYS_OFF] = True
            cursor.execute("PRAGMA foreign_keys = OFF")
        cursor.close()

    def expect(self, rows: int) -> None:
        """Told, before the first write, how many rows the file holds (estimated from
        its first batch); a writer may prepare the table for that many: here the search
        table is held for a big file (``searchindex``), see also ``PostgresWriter``.
        """
        if rows >= self.hold_index_from:
            self._index = HeldIndex.hold(self.raw, rows)

    def drain(self) -> None:
        """Wait for writes still under way (none here: see ``PostgresWriter``)."""

    def hold(self, table: str, row_id: int) -> None:
        """Keep the list or tag ``row_id`` of ``table`` from being removed until the
        import ends (nothing to do here: SQLite lets one writer in at a time, and
        ``finish`` checks the references)."""

    def ready_to_look_up(self) -> None:
        """Make look-ups by address possible again after ``expect`` (always, here)."""

    def finish(self, *, verify: bool = True) -> None:
        """Undo ``start`` where a transaction allows it; check the new rows' references."""
        cursor = self.raw.cursor()
        cursor.execute(f"PRAGMA cache_size = {int(self._cache_size)}")
        cursor.close()
        index, self._index = self._index, None
        if verify and index is not None:  # else the transaction is rolled back
            index.catch_up()  # after the cache is back: a bigger one only makes it hold more
        if verify and self._first_new:
            self.check_references()

    def check_references(self) -> None:
        """Raise ``BrokenReference`` if a row written since ``start`` refers to a missing
        parent (what SQLite's own checks would have refused row by row)."""
        cursor = self.raw.cursor()
        for table, after in self._first_new.items():
            for sql in _reference_checks(cursor, table, self._first_new):
                found = cursor.execute(sql, (after,)).fetchone()
                if found is not None:
                    cursor.close()
                    raise BrokenReference(
                        f"{table} row {found[0]} refers to a missing row of {found[1]} (removed "
                        "while the import ran?); nothing was imported: run it again"
                    )
        cursor.close()

    def _select_in(self, statement: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run ``statement`` whose ``{in}`` stands for ``IN (values)``, a chunk at a time."""
        found: list[tuple[Any, ...]] = []
        cursor = self.raw.cursor()
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            cursor.execute(statement.format(in_=f"IN ({','.join('?' * len(chunk))})"), chunk)
            found.extend(cursor.fetchall())
        cursor.close()
        return found

    def _many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        cursor = self.raw.cursor()
        cursor.executemany(self._sql(statement), rows)
        cursor.close()

    @property
    def _holding(self) -> str:
        """What a look-up adds to keep the rows it finds (see ``PostgresWriter``)."""
        return ""

    def existing(self, keys: Sequence[str]) -> dict[str, Existing]:
        look_up = "SELECT email_key, id, status, name, language FROM subscribers WHERE email_key"
        rows = self._select_in(f"{look_up} {{in_}}{self._holding}", keys)
        return {key: (sid, status, name, language) for key, sid, status, name, language in rows}

    def suppressed_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these address keys are suppressed (hashing them only if any could be)."""
        if self._suppressions is None:
            self.suppressed([])
        if not self._suppressions and not self._query_suppressions:
            return set()
        hashes = {address_hash(key): key for key in keys}
        return {hashes[found] for found in self.suppressed(list(hashes))}

    def suppressed(self, hashes: Sequence[str]) -> set[str]:
        """Which of these hashes are suppressed.

        A suppression list of ordinary size is read once and kept in memory (a few
        MB), which spares one query per batch; a huge one is queried per batch.
        """
        if self._suppressions is None:
            cursor = self.raw.cursor()
            cursor.execute("SELECT count(*) FROM suppressions")
            count = cursor.fetchone()[0]
            if count <= _PRELOAD_SUPPRESSIONS:
                cursor.execute("SELECT address_hash FROM suppressions")
                self._suppressions = {row[0] for row in cursor.fetchall()}
            else:
                self._suppressions = set()
                self._query_suppressions = True
            cursor.close()
        if not self._query_suppressions:
            return self._suppressions.intersection(hashes)
        rows = self._select_in(
            "SELECT address_hash FROM suppressions WHERE address_hash {in_}", hashes
        )
        return {row[0] for row in rows}

    def subscriptions(self, sids: Sequence[int]) -> set[tuple[int, int]]:
        """(subscriber, list) pairs that exist, subscribed or not."""
        rows = self._select_in(
            "SELECT subscriber_id, list_id FROM subscriptions WHERE subscriber_id {in_}", sids
        )
        return {(a, b) for a, b in rows}

    def stamp(self, now: datetime) -> Any:
        """``now`` as this driver wants it for a timestamp column (converted once a batch)."""
        return self._time(now)

    def insert_subscribers(self, rows: list[tuple[str, ...]], stamp: Any) -> list[int]:
        """Insert people given as (email, key, name, language, status, source); their ids."""
        if not rows:
            return []
        columns = ", ".join(_SUBSCRIBER_COLUMNS)
        marks = ", ".join("?" * len(_SUBSCRIBER_COLUMNS))
        cursor = self.raw.cursor()
        before = cursor.execute("SELECT max(id) FROM subscribers").fetchone()[0] or 0
        status, source = rows[0][4:]
        same = all(row[4] == status and row[5] == source for row in rows)
        keys = [search_key(row[1], row[2]) for row in rows]
        if _JSON_EACH and same:
            cursor.execute(
                f"INSERT INTO subscribers ({columns}) SELECT value->>0, value->>1, value->>2, "  # noqa: S608 -- columns: this module's constants
                "value->>3, ?, ?, ?, NULL, ?, value->>4 FROM json_each(?) ORDER BY key",
                (
                    status,
                    source,
                    stamp,
                    stamp,
                    json.dumps([(*row[:4], k) for row, k in zip(rows, keys, strict=True)]),
                ),
            )
        elif _JSON_EACH:
            cursor.execute(
                f"INSERT INTO subscribers ({columns}) SELECT value->>0, value->>1, value->>2, "  # noqa: S608 -- columns: this module's constants
                "value->>3, value->>4, value->>5, ?, NULL, ?, value->>6 FROM json_each(?) "
                "ORDER BY key",
                (stamp, stamp, json.dumps([(*r, k) for r, k in zip(rows, keys, strict=True)])),
            )
        else:
            cursor.executemany(
                f"INSERT INTO subscribers ({columns}) VALUES ({marks})",  # noqa: S608 -- columns: this module's constants
                ((*row, stamp, None, stamp, k) for row, k in zip(rows, keys, strict=True)),
            )
        after = cursor.execute("SELECT max(id) FROM subscribers").fetchone()[0]
        cursor.close()
        if after == before + len(rows):
            # SQLite gives each new row max(rowid) + 1, and nobody else can write
            # inside our transaction: the ids are consecutive, in the order given.
            return list(range(before + 1, after + 1))
        ids = dict(
            self._select_in(
                "SELECT email_key, id FROM subscribers WHERE email_key {in_}",
                [row[1] for row in rows],
            )
        )
        return [ids[row[1]] for row in rows]

    def update_subscribers(self, updates: list[dict[str, Any]], stamp: Any) -> None:
        """Apply per-person changes, grouped by which columns change; a change of
        ``name`` carries the new ``search_key`` (``folding.key``) with it."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in updates:
            columns = tuple(sorted(k for k in change if k != "sid"))
            groups.setdefault(columns, []).append(change)
        for columns, rows in groups.items():
            if not set(columns) <= set(_SUBSCRIBER_COLUMNS):
                raise ValueError(f"not columns of subscribers: {columns}")
            if self._index is not None and "search_key" in columns:
                self._index.before_rename([r["sid"] for r in rows])
            sets = [f"{name} = ?" for name in columns] + ["updated_at = ?"]
            self._many(
                f"UPDATE subscribers SET {', '.join(sets)} WHERE id = ?",  # noqa: S608 -- columns checked against _SUBSCRIBER_COLUMNS above
                ((*(r[n] for n in columns), stamp, r["sid"]) for r in rows),
            )

    def insert_suppressions(self, entries: list[tuple[str, str, str]], stamp: Any) -> None:
        """Suppress address keys, given as (key, reason, evidence); an address already
        suppressed keeps its first reason."""
        if self._suppressions is None:
            self.suppressed([])
        rows = {address_hash(key): (reason, evidence) for key, reason, evidence in entries}
        if self._suppressions is not None and not self._query_suppressions:
            self._suppressions.update(rows)
        self._many(
            "INSERT INTO suppressions (address_hash, reason, evidence, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (address_hash) DO NOTHING",
            [(digest, reason, evidence, stamp) for digest, (reason, evidence) in rows.items()],
        )

    def insert_events(
        self, events: list[tuple[int, str, str, str]], form: str, wording: str
    ) -> None:
        """Consent events the old tool recorded, as (id, action, when, IP); ``when`` is UTC
        text as ``formats.parse_time`` writes it, which is how SQLite stores a time."""
        if not events:
            return
        if _JSON_EACH:
            self.raw.execute(
                f"INSERT INTO consent_log ({', '.join(_CONSENT_COLUMNS)}) SELECT value->>0, "  # noqa: S608 -- columns: this module's constants
                "value->>1, '[]', value->>2, value->>3, '', ?, ? FROM json_each(?)",
                (form, wording, json.dumps(events)),
            )
            return
        self._many(
            f"INSERT INTO consent_log ({', '.join(_CONSENT_COLUMNS)}) "  # noqa: S608 -- columns: this module's constants
            "VALUES (?, ?, '[]', ?, ?, '', ?, ?)",
            [(sid, action, at, ip, form, wording) for sid, action, at, ip in events],
        )

    def insert_tags(
        self,
        pairs: list[tuple[int, int]],
        stamp: Any,
        *,
        new: bool = False,  # noqa: ARG002 -- PostgresWriter's
    ) -> None:
        """Tag people, given as (person id, tag id); a tag a person has is kept as it is.
        ``new``: people added by this batch, who have no tags yet (see ``PostgresWriter``)."""
        if pairs:
            self._many(
                "INSERT INTO subscriber_tags (subscriber_id, tag_id, created_at) "
                "VALUES (?, ?, ?) ON CONFLICT (subscriber_id, tag_id) DO NOTHING",
                [(sid, tag_id, stamp) for sid, tag_id in pairs],
            )

    def insert_subscriptions(self, pairs: list[tuple[int, int]], stamp: Any) -> None:
        if pairs and _JSON_EACH:
            self.raw.execute(
                f"INSERT INTO subscriptions ({', '.join(_SUBSCRIPTION_COLUMNS)}) "  # noqa: S608 -- columns: this module's constants
                "SELECT value->>0, value->>1, 1, ? FROM json_each(?)",
                (stamp, json.dumps(pairs)),
            )
        elif pairs:
            self._many(
                f"INSERT INTO subscriptions ({', '.join(_SUBSCRIPTION_COLUMNS)}) "  # noqa: S608 -- columns: this module's constants
                "VALUES (?, ?, ?, ?)",
                ((s, m, True, stamp) for s, m in pairs),
            )

    def insert_consent(
        self, entries: list[tuple[int, str]], stamp: Any, form: str, wording: str
    ) -> None:
        """One ``import`` event per person; ``entries`` are (id, JSON list of list names)."""
        if entries and _JSON_EACH:
            self.raw.execute(
                f"INSERT INTO consent_log ({', '.join(_CONSENT_COLUMNS)}) "  # noqa: S608 -- columns: this module's constants
                "SELECT value->>0, 'import', value->>1, ?, '', '', ?, ? FROM json_each(?)",
                (stamp, form, wording, json.dumps(entries)),
            )
        elif entries:
            marks = ", ".join("?" * len(_CONSENT_COLUMNS))
            self._many(
                f"INSERT INTO consent_log ({', '.join(_CONSENT_COLUMNS)}) VALUES ({marks})",  # noqa: S608 -- columns: this module's constants
                ((sid, "import", names, stamp, "", "", form, wording) for sid, names in entries),
            )


def writer_for(session: Session) -> Writer:
    if session.connection().dialect.name == "postgresql":
        from subscribers.bulkpg import PostgresWriter

        return PostgresWriter(session)
    return Writer(session)
