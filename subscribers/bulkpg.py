"""The importer's bulk writes on PostgreSQL: ``= ANY(array)`` look-ups and ``COPY``.

Apart from ``bulk`` (SQLite, and the base class) because a module passing ~500
lines is asking to be split; ``bulk.writer_for`` chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from subscribers.bulk import (
    _CONSENT_COLUMNS,
    _SUBSCRIBER_COLUMNS,
    _SUBSCRIPTION_COLUMNS,
    Writer,
)
from subscribers.folding import key as search_key
from subscribers.seenkeys import SeenKeys


class PostgresWriter(Writer):
    """``= ANY(array)`` look-ups and ``COPY`` for new rows."""

    batch_size = 20_000
    """Fewer, bigger statements: fewer round trips, each of which the server runs
    while the client waits; a little faster, for more memory held (``bench/import.py``
    prints both)."""
    overlaps = True
    rebuild_from = 100_000
    """Rows a file must bring into a new installation for its secondary indexes to be
    built after the load instead of kept up row by row, and for the addresses it
    writes to be remembered instead of looked up (see ``expect``)."""
    in_use_from = 1_000
    """People in the table from which it counts as a list in use: readers are then
    unsubscribing and signing up, and must never wait for an import's commit."""
    lock_wait = "2s"
    """How long ``expect`` waits for others to leave the table before it keeps the
    indexes as they are."""
    reserve = 100_000
    """Ids a first import takes from the sequence at once (see ``insert_subscribers``)."""
    queued = 6
    """COPY statements that may wait their turn behind the one being sent: enough for
    two batches, so the client never waits for the server to catch up on the one
    before, and the memory they hold stays bounded."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._sender: ThreadPoolExecutor | None = None
        self._sent: list[Future[None]] = []
        self._rebuild: list[str] = []  # statements building what ``expect`` dropped ...
        self._unique: list[str] = []  # ... the unique ones first, before any look-up
        self._ids: list[int] = []  # taken from the sequence, not used yet

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    @property
    def _holding(self) -> str:
        """With the foreign-key triggers off (``start``), nothing else keeps a person
        the import refers to from being removed (an erasure request, say) between the
        look-up and the rows that point at them: the look-up takes the lock the
        trigger would have, so a removal waits for the import's commit."""
        return " FOR KEY SHARE" if self.triggers_skipped else ""

    def hold(self, table: str, row_id: int) -> None:
        """See ``Writer.hold`` and ``_holding``."""
        if self.triggers_skipped and table in _HOLDABLE:
            self.drain()
            with self.raw.cursor() as cursor:
                cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE", [row_id])  # noqa: S608 -- table from _HOLDABLE

    def start(self) -> None:
        """Skip per-row foreign-key triggers for this transaction when allowed.

        The importer writes only rows whose parents it has just written or read in
        the same transaction, and PostgreSQL's row-by-row RI checks (each a
        ``SELECT ... FOR KEY SHARE`` on the parent) cost more than the COPY itself
        -- the same reason pg_restore offers ``--disable-triggers``. The parents it
        reads it locks as those checks would, once, when it reads them (``_holding``,
        ``hold``). It needs a superuser (or a grant on the setting); otherwise the
        checks simply stay on.
        """
        with self.raw.cursor() as cursor:
            cursor.execute("SAVEPOINT newsletter_bulk")
            try:
                cursor.execute("SET LOCAL session_replication_role = replica")
            except psycopg.Error:
                cursor.execute("ROLLBACK TO SAVEPOINT newsletter_bulk")
            else:
                cursor.execute("RELEASE SAVEPOINT newsletter_bulk")
                self.triggers_skipped = True

    def expect(self, rows: int) -> None:
        """For a big first import, remember the addresses written and hold the indexes
        of the tables it fills (``_HELD``) until the rows are in.

        A first import is one into a table of fewer than ``in_use_from`` people: their
        addresses go into ``seen``, as does every one the import writes, and only
        addresses it may have seen are looked up (``Merger.batch``), at the end.

        Keeping the indexes up to date row by row costs the server more than building
        them once after the load, by sorting (``bench/import.py`` prints the server's
        CPU seconds): a million addresses land at random places of the unique index,
        and each new person adds about forty trigrams to posting trees shared by
        everyone (``search``). The unique indexes come back first, before any look-up
        (``ready_to_look_up``) and check that no address went in twice; the rest at
        ``finish``, in the same transaction: search works as soon as the import commits.
        The price: from the drop to the commit nobody else can read these tables
        (``DROP INDEX`` locks them), acceptable for the big first import into a new
        installation, never for one into a list in use (a reader's unsubscribe would
        wait for the import); so only for a first import, and only if nobody is using
        the tables right now (else the indexes are kept up as usual). Nobody can sign
        up meanwhile, either: the lock makes them wait for the commit.
        """
        if rows < self.rebuild_from:
            return
        self.drain()
        with self.raw.cursor() as cursor:
            cursor.execute("SELECT email_key FROM subscribers LIMIT %s", [self.in_use_from])
            present = [row[0] for row in cursor.fetchall()]
            if len(present) >= self.in_use_from:
                return
            self.seen = seen = SeenKeys(rows + len(present))
            seen.update(present)
            cursor.execute(_HELD_QUERY, [list(_HELD), list(_HELD)])
            found: list[tuple[bool, str, str]] = cursor.fetchall()
            if not found:
                return
            cursor.execute("SELECT current_setting('lock_timeout')")
            saved = cursor.fetchone()[0]
            cursor.execute("SAVEPOINT newsletter_rebuild")
            try:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [self.lock_wait])
                for _, drop, _ in found:
                    cursor.execute(drop)
            except psycopg.Error:  # in use (lock_timeout), or not ours to drop
                cursor.execute("ROLLBACK TO SAVEPOINT newsletter_rebuild")  # indexes kept
                return
            cursor.execute("RELEASE SAVEPOINT newsletter_rebuild")
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [saved])
        self._unique = [build for unique, _, build in found if unique]
        self._rebuild = [build for unique, _, build in found if not unique]

    def ready_to_look_up(self) -> None:
        """Build the unique indexes ``expect`` held: look-ups by address and by person
        use them, and building them proves no address was written twice."""
        self.drain()
        unique, self._unique = self._unique, []
        with self.raw.cursor() as cursor:
            for build in unique:
                cursor.execute(build)

    def _build_dropped(self) -> None:
        """Build the indexes ``expect`` held, and give the planner the new tables'
        statistics so the first search after the import uses them."""
        self.ready_to_look_up()
        with self.raw.cursor() as cursor:
            for build in self._rebuild:
                cursor.execute(build)
            cursor.execute("ANALYZE subscribers")
        self._rebuild = []

    def _send_later(self, statement: str, data: str) -> None:
        """COPY ``data`` from a thread while this one goes on preparing the next
        statement; every other statement waits for it first (``drain``), so the
        server sees them in the order made, on the one connection and transaction."""
        if self._sender is None:
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="import-copy")
        while len(self._sent) > self.queued:
            error = self._sent.pop(0).exception()
            if error is not None:
                raise error
        self._sent.append(self._sender.submit(self._send, statement, data))

    def _send(self, statement: str, data: str) -> None:
        with self.raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(data)

    def drain(self) -> None:
        """Wait for every COPY sent in the background; raise the first one's error."""
        sent, self._sent = self._sent, []
        errors = [future.exception() for future in sent]
        for error in errors:
            if error is not None:
                raise error

    def finish(self, *, verify: bool = True) -> None:
        """Wait for the last COPY; build what ``expect`` dropped, unless the import
        failed (``verify`` False: its transaction is rolled back, the drop with it)."""
        try:
            self.drain()
        finally:
            if self._sender is not None:
                self._sender.shutdown()
                self._sender = None
        if (self._rebuild or self._unique) and verify:
            self._build_dropped()
        if self.triggers_skipped:
            with self.raw.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    def _many(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        self.drain()
        super()._many(statement, rows)

    def _select_in(self, statement: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Strings travel as one newline-joined text split by the server: psycopg's
        dumping of a Python list as an array costs more than the look-up itself."""
        self.drain()
        with self.raw.cursor() as cursor:
            joined = "\n".join(values) if values and isinstance(values[0], str) else None
            if joined is not None and joined.count("\n") == len(values) - 1:
                in_ = "= ANY(string_to_array(%s, E'\\n'))"
                cursor.execute(statement.format(in_=in_), [joined])
            else:
                cursor.execute(statement.format(in_="= ANY(%s)"), [list(values)])
            return list(cursor.fetchall())

    def _copy(
        self,
        table: str,
        columns: Sequence[str],
        count: int,
        text: Callable[[], str],
        rows: Callable[[], Iterable[Sequence[Any]]],
        nulls: int = 0,
    ) -> None:
        """COPY ``count`` rows into ``table``: as one block of text built by ``text()`` when
        no cell needs escaping (the usual case), else row by row through psycopg.

        psycopg's ``write_row`` does its work a row at a time in Python; an
        f-string per row joined into one ``write`` costs a fraction of that. The
        block is trusted only if it has exactly the tabs, newlines and backslashes
        (``\\N`` for NULL) that its rows and columns call for: a cell holding any of
        those characters changes the count, and that batch takes the careful path.
        """
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        data = text()
        plain = (
            data.count("\t") == count * (len(columns) - 1)
            and data.count("\n") == count
            and data.count("\\") == count * nulls
            and "\r" not in data
        )
        if plain:
            self._send_later(statement, data)
            return
        self.drain()
        with self.raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows():
                copy.write_row(row)

    def insert_subscribers(self, rows: list[tuple[str, ...]], stamp: Any) -> list[int]:
        if not rows:
            return []
        ids = self._take_ids(len(rows))
        when = _copy_time(stamp)
        keys = [search_key(row[1], row[2]) for row in rows]
        self._copy(
            "subscribers",
            ("id", *_SUBSCRIBER_COLUMNS),
            len(rows),
            lambda: "".join(
                [
                    f"{sid}\t{email}\t{key}\t{name}\t{language}\t{status}\t{source}"
                    f"\t{when}\t\\N\t{when}\t{folded}\n"
                    for sid, (email, key, name, language, status, source), folded in zip(
                        ids, rows, keys, strict=True
                    )
                ]
            ),
            lambda: (
                (sid, *row, stamp, None, stamp, folded)
                for sid, row, folded in zip(ids, rows, keys, strict=True)
            ),
            nulls=1,
        )
        return ids

    def _take_ids(self, count: int) -> list[int]:
        """``count`` new ids from the table's sequence.

        A first import (``seen``: nearly every row is a new person) takes them
        ``reserve`` at a time, so most batches go out without waiting for the server
        to finish the COPY before them; ids left over at the end are a gap in the
        numbering, as a rolled-back insert leaves.
        """
        if len(self._ids) < count:
            wanted = count - len(self._ids)
            if self.seen is not None:
                wanted = max(wanted, self.reserve)
            self.drain()
            with self.raw.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence('subscribers', 'id')) "
                    "FROM generate_series(1, %s)",
                    [wanted],
                )
                self._ids.extend(row[0] for row in cursor.fetchall())
        taken, self._ids = self._ids[:count], self._ids[count:]
        return taken

    def insert_subscriptions(self, pairs: list[tuple[int, int]], stamp: Any) -> None:
        if pairs:
            tail = f"\tt\t{_copy_time(stamp)}\n"
            self._copy(
                "subscriptions",
                _SUBSCRIPTION_COLUMNS,
                len(pairs),
                lambda: "".join([f"{s}\t{m}{tail}" for s, m in pairs]),
                lambda: ((s, m, True, stamp) for s, m in pairs),
            )

    def insert_consent(
        self, entries: list[tuple[int, str]], stamp: Any, form: str, wording: str
    ) -> None:
        if entries:
            tail = f"\t{_copy_time(stamp)}\t\t\t{form}\t{wording}\n"
            self._copy(
                "consent_log",
                _CONSENT_COLUMNS,
                len(entries),
                lambda: "".join([f"{sid}\timport\t{names}{tail}" for sid, names in entries]),
                lambda: (
                    (sid, "import", names, stamp, "", "", form, wording) for sid, names in entries
                ),
            )

    def insert_events(
        self, events: list[tuple[int, str, str, str]], form: str, wording: str
    ) -> None:
        if events:
            tail = f"\t\t{form}\t{wording}\n"
            self._copy(
                "consent_log",
                _CONSENT_COLUMNS,
                len(events),
                lambda: "".join([f"{s}\t{a}\t[]\t{t}+00\t{ip}{tail}" for s, a, t, ip in events]),
                lambda: ((s, a, "[]", f"{t}+00", ip, "", form, wording) for s, a, t, ip in events),
            )

    def insert_tags(self, pairs: list[tuple[int, int]], stamp: Any, *, new: bool = False) -> None:
        """New people's tags go in by COPY, behind the batch's other COPYs: nothing to
        merge with, so no statement waits for the server (two names of one tag, "Donor"
        and "donor", make one pair)."""
        if pairs and new:
            unique = list(dict.fromkeys(pairs))
            tail = f"\t{_copy_time(stamp)}\n"
            self._copy(
                "subscriber_tags",
                ("subscriber_id", "tag_id", "created_at"),
                len(unique),
                lambda: "".join([f"{s}\t{t}{tail}" for s, t in unique]),
                lambda: ((s, t, stamp) for s, t in unique),
            )
        elif pairs:
            self.drain()
            with self.raw.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO subscriber_tags (subscriber_id, tag_id, created_at) "
                    "SELECT s, t, %s FROM unnest(%s::int[], %s::int[]) AS p(s, t) "
                    "ON CONFLICT (subscriber_id, tag_id) DO NOTHING",
                    [stamp, [p[0] for p in pairs], [p[1] for p in pairs]],
                )


_HOLDABLE = frozenset({"lists", "tags"})

_HELD = ("subscribers", "subscriptions", "consent_log")
"""The tables a first import fills, whose indexes it builds after the load."""

_HELD_QUERY = """
SELECT true,
       format('ALTER TABLE %%s DROP CONSTRAINT %%I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s', c.conrelid::regclass, c.conname,
              pg_get_constraintdef(c.oid))
FROM pg_constraint AS c
WHERE c.contype = 'u' AND c.conrelid = ANY(%s::regclass[])
UNION ALL
SELECT false, format('DROP INDEX %%s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
"""
"""Each unique constraint and other secondary index of ``_HELD`` (primary keys stay:
the other tables' foreign keys need them): whether it is unique, how to drop it, how
to build it again."""


def _copy_time(stamp: datetime) -> str:
    """A timestamp in COPY's text form (ISO 8601 with its UTC offset)."""
    return stamp.isoformat()
