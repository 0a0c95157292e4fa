"""Recording clicks on tracked links: machine clicks told apart, writes batched.

A click is held in memory for ``BURST_SECONDS`` before it is written, so that a mail
scanner fetching every link of a copy at once can be recognised and the whole burst
marked as machine clicks. The burst key is the copy's reader in ``person`` mode and the
copy's random nonce in ``aggregate`` mode (the client's address for a token without
one); no key is ever written to the database. Writes are batched (one COPY or
``executemany`` for many clicks), so a burst of readers costs the database little;
``close`` writes everything still held, which is what the web app does when it is
told to stop (SIGTERM), so no click in hand is lost. A SIGKILL, or a machine that
dies, loses what is held: the clicks of the last ``BURST_SECONDS`` plus one flush.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Dialect, Engine

from newsletter.results.models import Click
from subscribers.models import Subscriber
from subscribers.orm import utcnow

BURST_SECONDS = 10.0  # a scanner fetches a copy's links within seconds of delivery
BURST_LINKS = 3  # this many different links of one copy inside the window: a machine
HEAD = "head"
BURST = "burst"


def is_burst(distinct_links: int, links_in_copy: int) -> bool:
    """Every link of a copy (two or more), or ``BURST_LINKS`` different ones, in the window."""
    if links_in_copy >= 2 and distinct_links >= links_in_copy:
        return True
    return distinct_links >= BURST_LINKS


@dataclass(slots=True)
class Pending:
    campaign_id: int
    link_idx: int
    reader: int | None  # stored only in person mode
    key: str  # burst key: never stored
    seen: float  # monotonic seconds
    at: datetime
    machine: bool = False
    reason: str = ""


@dataclass
class Copy:
    """One copy's (or one client's) clicks inside the burst window, oldest first.

    Kept incrementally, so a click costs O(1) even when thousands arrive from one
    address (a proxy, or a benchmark)."""

    clicks: deque[Pending] = field(default_factory=deque)
    links: Counter[int] = field(default_factory=Counter)
    burst: bool = False

    def add(self, click: Pending, now: float, links_in_copy: int) -> None:
        while self.clicks and now - self.clicks[0].seen > BURST_SECONDS:
            old = self.clicks.popleft()
            self.links[old.link_idx] -= 1
            if not self.links[old.link_idx]:
                del self.links[old.link_idx]
        self.clicks.append(click)
        self.links[click.link_idx] += 1
        if not is_burst(len(self.links), links_in_copy):
            self.burst = False
            return
        for p in self.clicks if not self.burst else (click,):
            if not p.machine:
                p.machine, p.reason = True, BURST
        self.burst = True


@dataclass
class ClickRecorder:
    """Thread-safe buffer of clicks; ``flush_due`` writes those whose window has passed."""

    engine: Engine
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = utcnow
    pending: deque[Pending] = field(default_factory=deque)  # in arrival order
    _copies: dict[tuple[int, str], Copy] = field(default_factory=dict)
    written: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _write: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        campaign_id: int,
        link_idx: int,
        *,
        reader: int | None,
        key: str,
        links_in_copy: int,
        head: bool = False,
    ) -> None:
        now = self.clock()
        click = Pending(campaign_id, link_idx, reader, key, now, self.wall())
        if head:
            click.machine, click.reason = True, HEAD
        with self._lock:
            self.pending.append(click)
            copy = self._copies.get((campaign_id, key))
            if copy is None:
                copy = self._copies[(campaign_id, key)] = Copy()
            copy.add(click, now, links_in_copy)

    def held(self) -> int:
        with self._lock:
            return len(self.pending)

    def flush_due(self) -> int:
        """Write the clicks whose burst window has passed; the number written."""
        return self._flush(self.clock() - BURST_SECONDS)

    def close(self) -> int:
        """Write every click held, window passed or not (the app is stopping)."""
        return self._flush(None)

    def _flush(self, before: float | None) -> int:
        with self._write:
            with self._lock:
                ready: list[Pending] = []
                pending = self.pending
                while pending and (before is None or pending[0].seen < before):
                    ready.append(pending.popleft())
                if not ready:
                    return 0
                cutoff = self.clock() - BURST_SECONDS
                stale = [k for k, v in self._copies.items() if v.clicks[-1].seen < cutoff]
                for copy_key in stale:
                    del self._copies[copy_key]
            try:
                self._insert(ready)
            except Exception:
                with self._lock:  # keep them for the next attempt rather than lose them
                    self.pending.extendleft(reversed(ready))
                raise
            self.written += len(ready)
            return len(ready)

    def _insert(self, ready: list[Pending]) -> None:
        with self.engine.begin() as conn:
            readers = {p.reader for p in ready if p.reader is not None}
            alive: set[int] = set()
            if readers:  # someone erased since they clicked: count the click, not them
                alive = set(conn.scalars(select(Subscriber.id).where(Subscriber.id.in_(readers))))
            rows = [
                (
                    p.campaign_id,
                    p.link_idx,
                    p.reader if p.reader in alive else None,
                    p.machine,
                    p.reason,
                    p.at,
                )
                for p in ready
            ]
            write_rows(conn, rows)


_COLUMNS = "campaign_id, link_idx, subscriber_id, machine, reason, clicked_at"


def write_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert click rows through the driver itself: PostgreSQL's COPY, SQLite's
    ``executemany``. The flush runs beside the event loop and holds the GIL while it
    works, so its cost per row shows in every redirect's latency; SQLAlchemy's own
    per-row parameter handling cost several times the write."""
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.cursor()
        with cursor, cursor.copy(f"COPY clicks ({_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        return
    stamp = _stamp_processor(conn.dialect)
    params = [(*row[:5], stamp(row[5])) for row in rows]
    conn.exec_driver_sql(f"INSERT INTO clicks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", params)  # noqa: S608 -- _COLUMNS is a constant


def _stamp_processor(dialect: Dialect) -> Callable[[Any], Any]:
    """How ``clicked_at`` is written on this dialect (SQLite keeps text), as SQLAlchemy would."""
    column = Click.__table__.c.clicked_at
    process = column.type.bind_processor(dialect)
    return process if process is not None else (lambda value: value)
