"""Engines, sessions and schema upgrades.

SQLite (the default) runs in WAL mode with a busy timeout so the web app, a worker
and the CLI can share one file; PostgreSQL goes through psycopg 3. Every command
that needs the database calls ``open_database``, which upgrades an empty or old
schema by itself, so nobody has to remember ``newsletter db upgrade``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from newsletter import liveness, migration_heads
from newsletter.errors import ConfigError, DatabaseUnavailable
from subscribers.addresses import register_sqlite
from subscribers.orm import FOREIGN_KEYS_OFF

if TYPE_CHECKING:  # Alembic is imported when a schema is checked: a compose helper never does
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    register_sqlite(dbapi_connection)  # the suppression check of who may be mailed


def _sqlite_checkin(dbapi_connection: Any, record: Any) -> None:
    """Foreign keys back on for a connection returned with them off (the pragma is
    ignored inside a transaction, so this runs after the pool's rollback)."""
    if dbapi_connection is not None and record.info.pop(FOREIGN_KEYS_OFF, False):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine; SQLite files get their folder created and WAL switched on."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"database URL is not valid: {url!r}") from exc
    safe = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "checkin", _sqlite_checkin)
            return engine
        return _server_engine(url, **kwargs)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the database {safe}: {exc.strerror}") from None
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database URL {safe} is not usable: {exc}") from None


def _server_engine(url: str, **kwargs: Any) -> Engine:
    # A pooled connection is checked before use when it is in doubt (``liveness``: its
    # socket was closed by the server, or it sat idle for a while), so the first request
    # or batch after a database restart or fail-over reconnects instead of failing on a
    # connection the server has already closed, without a ping per use. Connections
    # are also recycled before servers or proxies drop idle ones. A pool smaller than
    # the process's concurrency closes its overflow connections after each use, and a
    # new PostgreSQL connection costs the server a process start: size it to the
    # concurrency (``NEWSLETTER_DATABASE_POOL_SIZE``). A server that does not answer
    # at all is given up on after ``connect_timeout`` seconds rather than hanging.
    options: dict[str, Any] = {
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 10},
        **kwargs,
    }
    engine = create_engine(url, **options)
    liveness.install(engine)
    return engine


def lost(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached right now.

    A server restarting or failing over, a dropped connection, a full pool or (on
    SQLite) a lock held too long: the same work will succeed later, so callers wait
    and retry (the worker) or answer 503 (the web app). A bad query is not one.
    """
    if isinstance(exc, DatabaseUnavailable | PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if isinstance(exc.orig, sqlite3.Error):  # SQLite also calls a missing table "operational"
        return str(exc.orig).lower().startswith(_SQLITE_TRANSIENT)
    return isinstance(exc, OperationalError | InterfaceError)


_SQLITE_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "unable to open database file",
    "database or disk is full",
)


def first_line(exc: BaseException) -> str:
    """The driver's own message, one line, without SQLAlchemy's SQL and background link."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else type(inner).__name__


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def is_current(engine: Engine) -> bool:
    """True when every migration branch is applied.

    A branch that others depend on (``subscribers``) is not stored as a head once a
    dependant is applied, so compare against everything the stored heads imply.
    """
    if migration_heads.plainly_current(engine, MIGRATIONS / "versions"):
        return True
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    applied = {rev.revision for rev in script.iterate_revisions(current, "base") if rev}
    return set(script.get_heads()) <= applied


def upgrade(engine: Engine) -> None:
    """Apply all migrations (every branch: subscribers, campaigns, donations, web)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "heads")


def open_database(
    url: str, pool_size: int | None = None, pool_timeout: float | None = None
) -> Engine:
    """An engine whose schema is up to date, upgrading it first if needed.

    ``pool_size`` (server databases only) is how many connections stay open for reuse;
    ``pool_timeout`` how long a caller waits for one before SQLAlchemy's ``TimeoutError``.
    """
    sized = pool_size is not None and not normalise_url(url).startswith("sqlite")
    options: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size} if sized else {}
    if pool_timeout is not None:
        options["pool_timeout"] = pool_timeout
    engine = make_engine(url, **options)
    try:
        if not is_current(engine):
            upgrade(engine)
    except OperationalError as exc:
        safe = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"cannot open the database {safe}: {first_line(exc)}") from None
    return engine


_WRITERS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def writer(engine: Engine | None) -> AbstractContextManager[object]:
    """Held around a write transaction: on SQLite, one writer of this process at a time.

    SQLite has one writer per file; a writer that finds the file locked sleeps in
    growing steps (up to 100 ms) before trying again, so thirty requests writing at
    once spend most of their time asleep. Queued on a mutex they write one after the
    other at once. Other processes are still waited for by the busy timeout; a server
    database needs nothing (its rows are locked one by one).
    """
    if engine is None or engine.dialect.name != "sqlite":
        return nullcontext()
    with _WRITERS_LOCK:
        found = _WRITERS.get(engine)
        if found is None:
            found = _WRITERS[engine] = threading.Lock()
    return found


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
