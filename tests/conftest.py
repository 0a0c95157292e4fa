"""Shared fixtures: settings, and the database on SQLite and on the machine's PostgreSQL.

In CI (``CI=true``) a PostgreSQL that cannot be reached fails the run instead of
skipping, so the PostgreSQL half of the suite can never silently vanish.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

import newsletter.models  # noqa: F401  (every table on the metadata)
from newsletter import database
from newsletter.cli import common
from newsletter.config import Settings
from subscribers.orm import Base

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BRIEFING = ROOT / "examples" / "briefings" / "112-foreign-ministers.md"
SEED_PAPER = ROOT / "tests" / "fixtures" / "seed-paper.txt"  # a real paper's PDF text
PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# At least 32 bytes: commands refuse shorter secrets when the public URL is not loopback.
TEST_SECRET = "test-secret-key-0123456789-long-enough-for-public"
# The key the sample returned mails under tests/campaigns/fixtures were signed with: their VERP
# tokens and Message-IDs verify only under it, so the tests that read them use it.
FIXTURE_SECRET = "test-secret-key-0123456789"


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    if not _pg_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN}")
        pytest.skip("PostgreSQL is not reachable (set CI=true to make this an error)")
    name = f"nl_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL whose schema was built by the real migrations, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'newsletter.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = database.open_database(url)
    engine.dispose()
    return url


@pytest.fixture
def db_url(migrated_url: str) -> str:
    """A migrated, empty database (every table emptied before the test)."""
    engine = database.make_engine(migrated_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.dialect.name == "sqlite" and inspect(conn).has_table("sqlite_sequence"):
            conn.execute(text("DELETE FROM sqlite_sequence"))  # AUTOINCREMENT starts at 1
        if conn.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                if "id" not in table.c:
                    continue
                conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence(:t, 'id'), 1, false) "
                        "WHERE pg_get_serial_sequence(:t, 'id') IS NOT NULL"
                    ),
                    {"t": table.name},
                )
    engine.dispose()
    return migrated_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = database.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return database.session_factory(engine)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated from the developer's environment and ``.env``."""
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'newsletter.db'}",
        outbox_dir=tmp_path / "outbox",
        public_base_url="https://news.example.org",
        sender_address="briefings@example.org",
        secret_key=TEST_SECRET,
    )


@pytest.fixture(autouse=True)
def _engines_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close the pools of the engines a test made, when it ends.

    A command keeps its engine until its process exits, where the connections simply go;
    run in-process a hundred times, the engines would be left to the garbage collector,
    whose unclosed-connection warnings (errors here) then land in whichever test runs next.
    A disposed engine still works: it opens a new pool if used again.
    """
    made: list[Engine] = []

    def recorded(*args: Any, **kwargs: Any) -> Engine:
        engine = create_engine(*args, **kwargs)
        made.append(engine)
        return engine

    monkeypatch.setattr("newsletter.database.create_engine", recorded)
    yield
    for engine in made:
        engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``backend(name)`` are collected for that database only, so the
    report's skips stay meaningful (in CI none may be a skipped PostgreSQL test)."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is not None and marker.args[0] not in ("sqlite", "postgresql"):
            raise pytest.UsageError(f"{item.nodeid}: backend is sqlite or postgresql")
        params = getattr(item, "callspec", None)
        backend = params.params.get("migrated_url") if params is not None else None
        if marker is not None and backend is not None and backend != marker.args[0]:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run commands in a scratch folder with the test database and a local outbox."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("NEWSLETTER_SENDER_ADDRESS", "briefings@example.org")
    monkeypatch.setenv("NEWSLETTER_PUBLIC_BASE_URL", "https://news.example.org")
    monkeypatch.delenv("NEWSLETTER_SMTP_URL", raising=False)
    common.settings.cache_clear()
    yield tmp_path
    common.settings.cache_clear()
