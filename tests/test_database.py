"""The schema comes from the real migrations, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack

import pytest
from sqlalchemy import Engine, inspect

from newsletter import database
from newsletter.errors import ConfigError, DatabaseUnavailable


def test_migrations_build_every_table_and_are_current(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"subscribers", "lists", "subscriptions", "consent_log", "suppressions"} <= tables
    assert database.is_current(engine)


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    eng = database.open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_an_unreachable_or_unusable_database_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot open the database") as refused:
        database.open_database("postgresql://postgres:s3cret@127.0.0.1:1/x")
    assert "\n" not in str(refused.value) and "s3cret" not in str(refused.value)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DatabaseUnavailable, match="cannot create the database"):
        database.open_database(f"sqlite:///{blocker}/sub/x.db")
    with pytest.raises(ConfigError, match="not usable"):
        database.open_database("nonsense://somewhere/db")


def test_the_cli_reports_a_bad_database_in_one_line(tmp_path) -> None:
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"}
    proc = subprocess.run(
        [sys.executable, "-m", "newsletter", "campaign", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cannot open the database")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_postgresql_pool_keeps_as_many_connections_as_configured(pg_url: str) -> None:
    """Requests served at once up to the pool size reuse their connections: a pool that
    closed its overflow would make PostgreSQL start a backend for every later request."""
    eng = database.open_database(pg_url, pool_size=8)
    try:

        def backends() -> set[int]:
            with ExitStack() as stack:
                conns = [stack.enter_context(eng.connect()) for _ in range(8)]
                return {c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in conns}

        first = backends()
        assert len(first) == 8
        assert backends() == first
    finally:
        eng.dispose()


def test_sqlite_writers_of_one_process_queue_on_one_lock(tmp_path, pg_url: str) -> None:
    """Writers of one process take turns on SQLite (no sleeping on a locked file); a
    server database needs no such lock."""
    sqlite = database.make_engine(f"sqlite:///{tmp_path}/w.db")
    other = database.make_engine(f"sqlite:///{tmp_path}/other.db")
    server = database.make_engine(pg_url)
    try:
        lock = database.writer(sqlite)
        assert database.writer(sqlite) is lock and database.writer(other) is not lock
        with lock:
            assert not database.writer(sqlite).acquire(blocking=False)  # type: ignore[attr-defined]
        assert database.writer(sqlite).acquire(blocking=False)  # type: ignore[attr-defined]
        database.writer(sqlite).release()  # type: ignore[attr-defined]
        with database.writer(server), database.writer(server):  # nothing to wait for
            pass
    finally:
        for engine in (sqlite, other, server):
            engine.dispose()
