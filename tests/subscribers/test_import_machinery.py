"""What makes a big import fast must not show: foreign keys, the garbage collector, threads."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.cli.tuning import bulk_import
from newsletter.database import transaction
from subscribers import bulk, bulkpg, consent, lists, people, search, searchindex, tags
from subscribers.batches import Prepared, read_ahead
from subscribers.importer import ImportConflict, import_csv
from subscribers.models import ConsentEvent, Subscriber, Subscription
from subscribers.seenkeys import SeenKeys
from tests.subscribers import exports
from tests.subscribers.conftest import CONSENT

ROWS = "email,topics\nann@example.org,Ukraine\nbob@example.org,\ncid@example.org,Ukraine;NATO\n"


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(ROWS, encoding="utf-8")
    return path


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Subscriber)) or 0,
            s.scalar(select(func.count()).select_from(Subscription)) or 0,
            s.scalar(select(func.count()).select_from(ConsentEvent)) or 0,
        )


def _foreign_keys(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one())


@pytest.mark.backend("sqlite")  # its foreign-key pragma
def test_sqlite_checks_new_rows_in_bulk_and_pooled_connections_get_checks_back(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    during: list[int] = []

    def progress(_rows: int, _bytes: int) -> None:
        with sessions() as other:  # the same pool, so possibly the same kind of connection
            during.append(int(other.execute(text("PRAGMA foreign_keys")).scalar_one()))

    summary = import_csv(
        sessions, _source(tmp_path), consent=CONSENT, list_name="All", progress=progress
    )
    assert summary.added == 3 and _counts(sessions) == (3, 6, 3)
    assert during == [1]  # only the importing connection has them off
    for _ in range(3):  # every pooled connection, whichever the pool hands out
        assert _foreign_keys(engine) == 1


@pytest.mark.backend("sqlite")  # its foreign-key pragma
def test_a_broken_reference_fails_the_import_and_writes_nothing(
    engine: Engine,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With SQLite's row-by-row checks off, a consent row pointing nowhere (a bug) is
    still caught before the commit."""
    real = bulk.Writer.insert_consent

    def off_by_far(
        self: bulk.Writer, entries: list[tuple[int, str]], *args: Any
    ) -> None:  # every event for someone who does not exist
        real(self, [(sid + 10_000, names) for sid, names in entries], *args)

    monkeypatch.setattr(bulk.Writer, "insert_consent", off_by_far)
    with pytest.raises(bulk.BrokenReference, match=r"consent_log row .* subscribers"):
        import_csv(sessions, _source(tmp_path), consent=CONSENT, list_name="All")
    assert _counts(sessions) == (0, 0, 0)
    assert not (tmp_path / "people.errors.csv").exists()
    assert _foreign_keys(engine) == 1


@pytest.mark.backend("sqlite")  # its foreign-key pragma
def test_the_bulk_check_finds_each_kind_of_orphan(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        writer = bulk.writer_for(session)
        writer.start()
        raw = writer.raw
        assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 0
        raw.execute(
            "INSERT INTO subscriptions (subscriber_id, list_id, subscribed, updated_at) "
            "VALUES (77, 88, 1, '2026-01-01')"
        )
        with pytest.raises(
            bulk.BrokenReference, match=r"subscriptions row 1 .* (subscribers|lists)"
        ):
            writer.finish()
        session.rollback()


@pytest.mark.backend("sqlite")  # its foreign-key pragma
def test_inside_a_transaction_sqlite_keeps_checking_row_by_row(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        session.execute(text("DELETE FROM suppressions"))  # a write: the transaction is open
        writer = bulk.writer_for(session)
        writer.start()
        assert writer.raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        writer.finish()
        session.rollback()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_import_command_pauses_the_collector_only_while_importing(
    sessions: sessionmaker[Session], tmp_path: Path, enabled: bool
) -> None:
    """As ``subscribers import`` runs it (``newsletter.cli.tuning``): paused during the
    import, put back as it was after it, even when the file is refused."""
    during: list[bool] = []
    (gc.enable if enabled else gc.disable)()
    try:
        with bulk_import():
            import_csv(
                sessions,
                _source(tmp_path),
                consent=CONSENT,
                progress=lambda *_: during.append(gc.isenabled()),
            )
        assert during == [False] and gc.isenabled() is enabled
        (tmp_path / "bad.csv").write_text("no email column\nx\n", encoding="utf-8")
        with pytest.raises(ValueError, match="no email column"), bulk_import():
            import_csv(sessions, tmp_path / "bad.csv", consent=CONSENT)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def _batches(count: int, fail_at: int = -1) -> Iterator[Prepared]:
    for number in range(count):
        if number == fail_at:
            raise OSError("disk went away")
        yield Prepared(number, 0, {}, [])


def _readers() -> int:
    return sum(t.name == "import-read-ahead" for t in threading.enumerate())


def test_read_ahead_keeps_order_and_restores_the_switch_interval() -> None:
    interval = sys.getswitchinterval()
    assert [batch.rows for batch in read_ahead(_batches(50))] == list(range(50))
    assert sys.getswitchinterval() == interval and _readers() == 0


def test_read_ahead_raises_the_readers_error_in_the_caller() -> None:
    got: list[int] = []
    with pytest.raises(OSError, match="disk went away"):
        got.extend(batch.rows for batch in read_ahead(_batches(10, fail_at=4)))
    assert got == [0, 1, 2, 3] and _readers() == 0


def test_leaving_early_stops_the_reader() -> None:
    made: list[int] = []

    def endless() -> Iterator[Prepared]:
        number = 0
        while True:
            made.append(number)
            yield Prepared(number, 0, {}, [])
            number += 1

    batches = read_ahead(endless(), depth=2)
    assert next(batches).rows == 0
    batches.close()  # what a ``for`` loop left by an exception does
    assert _readers() == 0 and len(made) <= 5


def _copy_threads() -> int:
    return sum(t.name.startswith("import-copy") for t in threading.enumerate())


def test_a_write_that_fails_late_is_a_conflict_and_writes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same address added "elsewhere" between the look-up and the insert (here: a
    look-up that never finds anyone) fails the import however late the insert fails
    (on PostgreSQL, in the thread that sends the COPY)."""
    monkeypatch.setattr(bulk.Writer, "existing", lambda self, keys: {})
    path = tmp_path / "again.csv"
    path.write_text("email\nann@example.org\nbob@example.org\nANN@example.org\n", "utf-8")
    with pytest.raises(ImportConflict, match="nothing was imported"):
        import_csv(sessions, path, consent=CONSENT, batch_size=1)
    assert _counts(sessions) == (0, 0, 0) and _copy_threads() == 0


@pytest.mark.backend("postgresql")  # COPY is PostgreSQL's
def test_an_error_in_a_background_copy_reaches_the_caller(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulkpg, "_copy_time", lambda stamp: "soon")
    with pytest.raises(psycopg.DataError, match="soon"):
        import_csv(sessions, _source(tmp_path), consent=CONSENT, list_name="All", batch_size=2)
    assert _counts(sessions) == (0, 0, 0) and _copy_threads() == 0


def _search_index(sessions: sessionmaker[Session]) -> tuple[int, str]:
    """The trigram index's identity (a rebuilt index is a new relation) and definition."""
    with sessions() as s:
        oid, definition = s.execute(
            text(
                "SELECT indexrelid::oid::int, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indexrelid = 'ix_subscribers_search_trgm'::regclass"
            )
        ).one()
        return oid, definition


def _indexes(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    """Every index (constraints' too) of the tables a first import fills, by definition."""
    with sessions() as s:
        found = s.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                "('subscribers', 'subscriptions', 'consent_log')"
            )
        )
        return sorted((name, definition) for name, definition in found)


def _people(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "many.csv"
    lines = [f"reader{i}@example.org,Chloé Reader{i}" for i in range(count)]
    path.write_text("email,name\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.backend("postgresql")  # its GIN index
def test_a_big_first_import_gets_the_search_index_built_after_the_load(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_csv(sessions, _source(tmp_path), consent=CONSENT)  # three people
    before = _search_index(sessions)
    import_csv(sessions, _people(tmp_path, 2), consent=CONSENT)  # small: kept up row by row
    assert _search_index(sessions) == before

    monkeypatch.setattr(bulkpg.PostgresWriter, "rebuild_from", 4)
    monkeypatch.setattr(bulkpg.PostgresWriter, "in_use_from", 5)  # a list in use: readers
    import_csv(sessions, _people(tmp_path, 10), consent=CONSENT)  # never wait for an import
    assert _search_index(sessions) == before

    monkeypatch.setattr(bulkpg.PostgresWriter, "in_use_from", 1_000)  # a new installation
    indexes = _indexes(sessions)
    assert len(indexes) == 10  # three primary keys, two unique constraints, five others
    summary = import_csv(sessions, _people(tmp_path, 40), consent=CONSENT)
    after = _search_index(sessions)
    assert summary.added == 30 and after[0] != before[0] and after[1] == before[1]
    assert _indexes(sessions) == indexes  # every one built again as it was
    with sessions() as s:
        found = [p.email for p in search.search(s, text="CHLOE reader17")]
    assert found == ["reader17@example.org"]


@pytest.mark.backend("postgresql")  # its GIN index
def test_the_search_index_stays_when_the_table_is_in_use_or_the_import_fails(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _search_index(sessions)
    monkeypatch.setattr(bulkpg.PostgresWriter, "rebuild_from", 2)
    monkeypatch.setattr(bulkpg.PostgresWriter, "lock_wait", "50ms")
    reader = psycopg.connect(db_url.replace("+psycopg", ""))
    try:
        reader.execute("SELECT count(*) FROM subscribers")  # a transaction left open
        assert import_csv(sessions, _people(tmp_path, 30), consent=CONSENT).added == 30
    finally:
        reader.close()
    assert _search_index(sessions) == before

    indexes = _indexes(sessions)
    monkeypatch.setattr(bulkpg, "_copy_time", lambda stamp: "soon")
    with pytest.raises(psycopg.DataError):
        import_csv(sessions, _people(tmp_path, 90), consent=CONSENT)
    assert _search_index(sessions) == before and _counts(sessions)[0] == 30
    assert _indexes(sessions) == indexes


@pytest.mark.backend("postgresql")  # its held unique indexes
def test_the_unique_address_built_again_refuses_an_address_written_twice(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first import writes without the unique index on the address; building it again
    at the end is the proof that the remembered addresses forgot none."""
    monkeypatch.setattr(bulkpg.PostgresWriter, "rebuild_from", 2)
    monkeypatch.setattr(SeenKeys, "__contains__", lambda self, key: False)  # forgets all
    indexes = _indexes(sessions)
    path = tmp_path / "twice.csv"
    path.write_text("email\nann@example.org\nbob@example.org\nANN@example.org\n", "utf-8")
    with pytest.raises(ImportConflict, match="nothing was imported"):
        import_csv(sessions, path, consent=CONSENT, batch_size=2)
    assert _counts(sessions) == (0, 0, 0) and _indexes(sessions) == indexes


@pytest.mark.backend("postgresql")  # its foreign-key triggers, skipped by the import
def test_people_and_lists_an_import_refers_to_cannot_be_removed_until_it_ends(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the triggers' locks, a person removed between the import's look-up and
    its writes would be left with subscriptions and consent rows pointing at nobody."""
    with transaction(sessions) as s:
        person = people.add(s, "kept@example.org", consent.Context(form="cli:test"))
        targets = [("subscribers", person.id), ("lists", lists.create(s, "All").id)]
    path = tmp_path / "kept.csv"
    path.write_text("email,name\nkept@example.org,Kept Renamed\n", encoding="utf-8")
    refused: list[str] = []
    looked_up = bulkpg.PostgresWriter.existing

    def and_removed_meanwhile(writer: bulkpg.PostgresWriter, keys: Any) -> Any:
        found = looked_up(writer, keys)
        assert writer.triggers_skipped
        with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as other:
            other.execute("SET lock_timeout = '100ms'")
            for table, row_id in targets:
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(f"DELETE FROM {table} WHERE id = %s", [row_id])  # noqa: S608 -- the test's own names
                refused.append(table)
        return found

    monkeypatch.setattr(bulkpg.PostgresWriter, "existing", and_removed_meanwhile)
    assert import_csv(sessions, path, consent=CONSENT, list_name="All").updated == 1
    assert refused == ["subscribers", "lists"]
    assert _everyone(sessions) == [("kept@example.org", "Kept Renamed", "active", [targets[1][1]])]


@pytest.mark.backend("sqlite")  # its foreign-key pragma
def test_a_reference_to_a_person_removed_during_the_import_is_caught(
    sessions: sessionmaker[Session],
) -> None:
    """People older than the import are looked up one by one; only the ones the import
    wrote itself are checked by the end of their run of ids."""
    with transaction(sessions) as s:
        for n in range(3):
            people.add(s, f"old{n}@example.org", consent.Context(form="cli:test"))
    with sessions() as session:
        writer = bulk.writer_for(session)
        writer.start()
        raw = writer.raw
        raw.execute("DELETE FROM subscribers WHERE email_key = 'old1@example.org'")
        raw.execute(
            "INSERT INTO consent_log (subscriber_id, action, lists, at, ip, user_agent, form, "
            "wording) VALUES (2, 'import', '[]', '2026-01-01', '', '', 'f', 'w')"
        )
        with pytest.raises(bulk.BrokenReference, match=r"consent_log row \d+ .* subscribers"):
            writer.finish()
        session.rollback()


def _everyone(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, list[int]]]:
    with sessions() as s:
        return [
            (p.email, p.name, p.status, sorted(sub.list_id for sub in p.subscriptions))
            for p in s.scalars(select(Subscriber).order_by(Subscriber.email_key))
        ]


@pytest.mark.parametrize("first", [False, True], ids=["looked up", "remembered"])
def test_a_first_import_that_remembers_its_addresses_merges_as_one_that_looks_them_up(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: bool
) -> None:
    """On PostgreSQL a big first import remembers the addresses it wrote and merges a
    repeated one at the end; the outcome is the same as looking each one up. (SQLite
    looks them up: the parameter changes nothing there, and shows it.)"""
    if first:
        monkeypatch.setattr(bulkpg.PostgresWriter, "rebuild_from", 2)
    with transaction(sessions) as s:
        people.add(s, "present@example.org", consent.Context(form="cli:test"), name="Pre Sent")
    lines = [f"reader{i}@example.org,Reader {i},{'Ukraine' if i % 3 else ''}" for i in range(12)]
    lines[7] = "READER2@example.org,Renamed Two,Arms control"  # a batch after its first row
    lines[9] = "present@example.org,Present Renamed,"  # on the list before the import
    lines.append("reader2@example.org,Renamed Again,")  # later rows win
    path = tmp_path / "repeats.csv"
    path.write_text("email,name,topics\n" + "\n".join(lines) + "\n", encoding="utf-8")
    summary = import_csv(sessions, path, consent=CONSENT, list_name="All", batch_size=3)
    assert (summary.added, summary.updated, summary.duplicates) == (10, 1, 2)
    everyone = _everyone(sessions)
    names = {email: name for email, name, _, _ in everyone}
    assert names["reader2@example.org"] == "Renamed Again"
    assert names["present@example.org"] == "Present Renamed"
    reader2 = next(row for row in everyone if row[0] == "reader2@example.org")
    assert len(reader2[3]) == 3  # All, Ukraine from its first row, Arms control from the next
    # consent: the sign-up, ten imports, and one for each of the three changing rows
    assert len(everyone) == 11 and _counts(sessions)[2] == 14


def test_the_seen_keys_filter_never_forgets_and_rarely_imagines() -> None:
    seen = SeenKeys(10_000)
    written = [f"reader{i}@example.org" for i in range(10_000)]
    seen.update(written)
    assert all(key in seen for key in written)
    imagined = sum(f"stranger{i}@example.net" in seen for i in range(10_000))
    assert imagined < 300  # about 50 expected (0.5%)


def test_two_spellings_of_a_tag_tag_a_new_person_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """New people's tags go in without a merge (COPY on PostgreSQL): "Donor" and "donor"
    are one tag, and must make one row."""
    path = tmp_path / "subscribed_members_export_4f1e2d.csv"
    data = exports.MAILCHIMP_SUBSCRIBED.replace('"""Donor"",""Board"""', '"""Donor"",""donor"""')
    path.write_text(data, encoding="utf-8")
    summary = import_csv(sessions, path, consent=CONSENT)
    assert summary.added == 3 and summary.tagged == 2
    with transaction(sessions) as s:
        ann = people.lookup(s, "ann.archer@example.org")
        assert ann is not None and tags.of(s, [ann.id]) == {ann.id: ["Donor"]}


def test_a_dry_run_of_a_big_first_import_builds_no_index_it_would_throw_away(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console checks every file with a dry run before importing it: held indexes
    are rolled back with it, not built first."""
    monkeypatch.setattr(bulkpg.PostgresWriter, "rebuild_from", 2)
    monkeypatch.setattr(bulk.Writer, "hold_index_from", 2)

    def refuse(*_: object) -> None:
        raise AssertionError("built for a dry run")

    monkeypatch.setattr(bulkpg.PostgresWriter, "_build_dropped", refuse)
    monkeypatch.setattr(searchindex.HeldIndex, "catch_up", refuse)
    server = sessions.kw["bind"].dialect.name == "postgresql"
    indexes = _indexes(sessions) if server else []
    checked = import_csv(sessions, _people(tmp_path, 40), consent=CONSENT, dry_run=True)
    assert checked.added == 40 and _counts(sessions) == (0, 0, 0)
    assert (_indexes(sessions) if server else []) == indexes
    monkeypatch.undo()
    assert import_csv(sessions, _people(tmp_path, 40), consent=CONSENT).added == 40
    with sessions() as s:  # the search index was left whole by the dry run
        assert [p.email for p in search.search(s, text="reader17")] == ["reader17@example.org"]
