"""A pooled PostgreSQL connection is pinged only when in doubt, and a dead one is replaced.

Runs against the machine's PostgreSQL; the clock is injected, so "idle for a while"
never means waiting.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text

from newsletter import database, liveness
from tests.conftest import PG_ADMIN


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Checked = tuple[Engine, liveness.IdlePing, Clock]


@pytest.fixture
def checked(pg_url: str) -> Iterator[Checked]:
    clock = Clock()
    engine = create_engine(database.normalise_url(pg_url), pool_size=1, max_overflow=0)
    check = liveness.install(engine, idle_after=10.0, clock=clock)
    yield engine, check, clock
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("select pg_backend_pid()")) or 0)


def test_a_connection_used_a_moment_ago_is_not_pinged(checked: Checked) -> None:
    engine, check, clock = checked
    first = backend_pid(engine)
    for _ in range(5):
        clock.now += 9.0  # never idle longer than ten seconds between uses
        assert backend_pid(engine) == first
    assert check.pings == 0


def test_a_connection_idle_longer_than_the_limit_is_pinged_and_kept(checked: Checked) -> None:
    engine, check, clock = checked
    first = backend_pid(engine)
    clock.now += 10.5
    assert backend_pid(engine) == first  # pinged, alive, reused
    assert check.pings == 1


def test_a_connection_the_server_ended_is_replaced_before_use(checked: Checked) -> None:
    engine, check, _clock = checked
    first = backend_pid(engine)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        # Waits (up to 5 s) until the backend has gone, as a server restart ends it.
        ended = admin.execute("select pg_terminate_backend(%s, 5000)", (first,)).fetchone()
    assert ended == (True,)
    second = backend_pid(engine)  # no error: the dead connection is never handed out
    assert second != first
    assert check.pings == 1


def test_a_failed_ping_replaces_the_connection(checked: Checked) -> None:
    engine, check, clock = checked
    first = backend_pid(engine)

    def broken(_connection: object) -> bool:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    check.ping = broken
    clock.now += 60.0
    with engine.connect() as conn:  # a new connection is fresh: not pinged again
        assert conn.scalar(text("select pg_backend_pid()")) != first
    assert check.pings == 1


def test_server_engines_check_this_way_instead_of_pinging_every_checkout(pg_url: str) -> None:
    engine = database.make_engine(pg_url)
    try:
        assert not engine.pool._pre_ping
        with engine.connect() as conn:
            first = conn.scalar(text("select pg_backend_pid()"))
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s, 5000)", (first,))
        with engine.connect() as conn:
            assert conn.scalar(text("select 1")) == 1
    finally:
        engine.dispose()
