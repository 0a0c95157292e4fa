"""Checking a pooled server connection before use, without a round trip per checkout.

A pooled connection may have died while it sat in the pool: the database restarted or
failed over, or a proxy dropped it. Pinging it on every checkout (SQLAlchemy's
``pool_pre_ping``) costs one round trip per transaction, about a sixth of a webhook's
time. Instead a connection is pinged only when there is reason to doubt it:

- its socket has something to read although no query is running. A server that
  shuts down or ends the session (restart, fail-over, ``pg_terminate_backend``) sends
  a last message and closes the socket, so this one ``poll`` without waiting catches
  every orderly end at no cost;
- or it has been idle longer than ``IDLE_PING_AFTER`` seconds: a connection lost
  silently (a dropped proxy or a network partition) is found before a request needs it.

A failed ping invalidates every pooled connection older than now (they are all dead
after a restart) and the checkout retries on a new one, as with ``pool_pre_ping``.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError

IDLE_PING_AFTER = 10.0  # seconds in the pool after which a connection is pinged first
_IDLE_SINCE = "newsletter_idle_since"  # in the pool record's per-connection ``info``


def socket_of(dbapi_connection: Any) -> int | None:
    """The connection's socket (psycopg 3), or None when the driver does not say."""
    try:
        fd = dbapi_connection.pgconn.socket
    except Exception:  # closed already, or another driver
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def readable(fd: int) -> bool:
    """True when ``fd`` has data or end-of-file waiting (never waits)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True  # a socket we cannot even poll is not one to trust


class IdlePing:
    """Pool listeners: note when a connection went idle; ping a doubtful one on checkout."""

    def __init__(
        self,
        ping: Callable[[Any], bool],
        idle_after: float = IDLE_PING_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ping = ping
        self.idle_after = idle_after
        self.clock = clock
        self.pings = 0  # how many checkouts needed a ping (the tests read it)

    def doubtful(self, dbapi_connection: Any, idle_since: float) -> bool:
        if self.clock() - idle_since > self.idle_after:
            return True
        fd = socket_of(dbapi_connection)
        return fd is not None and readable(fd)

    def checkin(self, dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = self.clock()

    def checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or not self.doubtful(dbapi_connection, idle_since):
            return  # a new connection, or one used a moment ago with nothing to read
        self.pings += 1
        try:
            alive = self.ping(dbapi_connection)
        except Exception as exc:
            raise InvalidatePoolError(f"pooled connection lost: {exc}") from exc
        if not alive:
            raise InvalidatePoolError("pooled connection lost")


def install(
    engine: Engine, idle_after: float = IDLE_PING_AFTER, clock: Callable[[], float] = time.monotonic
) -> IdlePing:
    """Check ``engine``'s pooled connections as described above; the listener, for tests."""
    check = IdlePing(engine.dialect.do_ping, idle_after, clock)
    event.listen(engine, "checkin", check.checkin)
    event.listen(engine, "checkout", check.checkout)
    return check
