"""A rate limiter shared by every web process, kept in the database.

The limits guard strangers' inboxes (subscribe) and cards (donate): if each of
four workers kept its own count, an attacker would get four times the rate. So
the counts live in ``rate_hits``, one row per key and fixed window, and the
limit applies to a sliding estimate: this window's hits plus the previous
window's, weighted by how much of it still overlaps. A hit is counted only when
it is allowed, in one conditional upsert, so concurrent requests in several
processes cannot overshoot. Keys are stored as HMACs: no address or IP is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.web.models import RateHit

HITS: Table = RateHit.__table__  # type: ignore[assignment]
_PREVIOUS = select(HITS.c.hits).where(
    HITS.c.key == bindparam("p_key"), HITS.c.bucket == bindparam("p_bucket")
)
_CLEANUP = delete(HITS).where(HITS.c.expires < bindparam("p_now"))
CLEANUP_SHARE = 0.01  # share of allowed hits that also delete expired rows


_UPSERT: dict[str, Any] = {}
for _name, _dialect in (("postgresql", postgresql), ("sqlite", sqlite)):
    _stmt = _dialect.insert(HITS).values(
        key=bindparam("p_key"),
        bucket=bindparam("p_bucket"),
        hits=1,
        expires=bindparam("p_expires"),
    )
    _UPSERT[_name] = _stmt.on_conflict_do_update(
        index_elements=[HITS.c.key, HITS.c.bucket],
        set_={"hits": HITS.c.hits + 1},
        where=HITS.c.hits < bindparam("p_cap"),
    ).returning(HITS.c.hits)


class RateLimiter:
    """About ``limit`` hits per key per ``window`` seconds, across processes.

    The sliding estimate is exact for steady traffic; a burst timed just before and
    just after a window boundary can get up to twice the limit, never more.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        name: str,
        limit: int,
        window: float,
        *,
        secret: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.limit = limit
        self.window = window
        self._secret = secret
        self._clock = clock

    def _key(self, key: str) -> str:
        message = f"{self.name}\x1f{key}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def allow(self, key: str) -> bool:
        """Record a hit for ``key`` and say True, or say False when it is over the limit."""
        now = self._clock()
        bucket = math.floor(now / self.window)
        overlap = 1.0 - (now / self.window - bucket)  # of the previous window, still in view
        digest = self._key(key)
        with transaction(self.sessions) as session:
            conn = session.connection()
            previous = conn.scalar(_PREVIOUS, {"p_key": digest, "p_bucket": bucket - 1}) or 0
            cap = self.limit - math.floor(previous * overlap)
            if cap <= 0:
                return False
            expires = math.ceil((bucket + 2) * self.window)
            params = {"p_key": digest, "p_bucket": bucket, "p_expires": expires, "p_cap": cap}
            counted = conn.execute(_UPSERT[conn.dialect.name], params).first()
            if counted is not None and random.random() < CLEANUP_SHARE:  # noqa: S311 -- sampling
                conn.execute(_CLEANUP, {"p_now": math.floor(now)})
        return counted is not None
