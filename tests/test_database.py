"""The schema comes from the real migrations, on both databases."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from newsletter import database


def test_migrations_build_every_table_and_are_current(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"subscribers", "lists", "subscriptions", "consent_log", "suppressions"} <= tables
    assert database.is_current(engine)


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    eng = database.open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
