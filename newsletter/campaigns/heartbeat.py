"""Worker heartbeats: which senders are alive, and which sending campaigns nobody serves.

Every worker (``newsletter worker``, the foreground ``campaign send``, and the loop
inside ``newsletter serve``) keeps one row here, written when it starts, every third
of its lease while it runs, and when it stops. A worker is *live* while its last
heartbeat is younger than its lease. From that:

- ``campaign status`` and ``campaign list`` say when a sending campaign has had no
  live worker for longer than a lease (everyone was SIGKILLed, the machine rebooted),
  instead of showing "sending" forever;
- the loop inside ``newsletter serve`` is a *standby* sender: it leaves a campaign to a
  live dedicated worker, and picks up one that has had none for longer than a lease.

The same thread renews the leases of the rows the worker holds, so a batch slower
than its lease is not taken over while it is still being sent. A database outage
only delays both; they carry on when it is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Boolean, Engine, Float, String, Table, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.models import Campaign
from newsletter.campaigns.states import CampaignStatus
from subscribers.orm import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)

DEFAULT_LEASE = 300.0  # seconds: the lease of ``newsletter worker`` unless --lease says otherwise
FORGET_AFTER = timedelta(days=7)  # rows of workers gone this long are deleted


class WorkerHeartbeat(Base):
    """One sender and the last time it was seen alive."""

    __tablename__ = "campaign_workers"

    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The campaigns it may send, comma-separated; empty for every due campaign.
    scope: Mapped[str] = mapped_column(String(200), default="")
    standby: Mapped[bool] = mapped_column(Boolean, default=False)  # the loop inside `serve`
    lease_seconds: Mapped[float] = mapped_column(Float, default=DEFAULT_LEASE)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


_W = cast(Table, WorkerHeartbeat.__table__)
_C = cast(Table, Campaign.__table__)


@dataclass(frozen=True, slots=True)
class _Seen:
    scope: frozenset[int] | None  # None: every campaign
    standby: bool
    lease: float
    seen_at: datetime
    stopped_at: datetime | None

    def serves(self, campaign_id: int) -> bool:
        return self.scope is None or campaign_id in self.scope

    def live(self, now: datetime) -> bool:
        return self.stopped_at is None and now - self.seen_at < timedelta(seconds=self.lease)

    @property
    def last_sign(self) -> datetime:
        return self.stopped_at or self.seen_at


def _scope_text(campaign_ids: Sequence[int] | None) -> str:
    return "" if campaign_ids is None else ",".join(str(c) for c in sorted(campaign_ids))[:200]


def _seen(engine: Engine) -> list[_Seen]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(_W.c.scope, _W.c.standby, _W.c.lease_seconds, _W.c.seen_at, _W.c.stopped_at)
        ).all()
    return [
        _Seen(
            frozenset(int(c) for c in r.scope.split(",") if c) if r.scope else None,
            bool(r.standby),
            float(r.lease_seconds),
            r.seen_at,
            r.stopped_at,
        )
        for r in rows
    ]


# -- writing --------------------------------------------------------------------------


def beat(
    engine: Engine,
    owner: str,
    *,
    lease_seconds: float,
    scope: Sequence[int] | None = None,
    standby: bool = False,
    now: datetime | None = None,
) -> None:
    """Record that ``owner`` is alive now (its row is created on the first beat)."""
    now = now or utcnow()
    with engine.begin() as conn:
        found = conn.execute(
            update(_W).where(_W.c.owner == owner).values(seen_at=now, stopped_at=None)
        ).rowcount
        if not found:
            conn.execute(
                insert(_W).values(
                    owner=owner,
                    scope=_scope_text(scope),
                    standby=standby,
                    lease_seconds=lease_seconds,
                    started_at=now,
                    seen_at=now,
                    stopped_at=None,
                )
            )


def stopped(engine: Engine, owner: str, now: datetime | None = None) -> None:
    """Record a clean stop: the worker gave its rows back, nobody need wait for its lease."""
    now = now or utcnow()
    with engine.begin() as conn:
        conn.execute(update(_W).where(_W.c.owner == owner).values(seen_at=now, stopped_at=now))
        conn.execute(delete(_W).where(_W.c.seen_at < now - FORGET_AFTER))


# -- reading --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unattended:
    """A sending campaign no live worker serves, and for how long (seconds)."""

    campaign_id: int
    for_seconds: float
    lease_seconds: float


def unattended(engine: Engine, now: datetime | None = None) -> dict[int, Unattended]:
    """Sending campaigns that have had no live worker for longer than a lease.

    "Since" is the last sign of life of a worker that could send the campaign (its
    last heartbeat, or its clean stop), or the campaign's start when none ever ran;
    the lease is that worker's, else the default one.
    """
    now = now or utcnow()
    with engine.connect() as conn:
        sending = conn.execute(
            select(_C.c.id, _C.c.started_at).where(_C.c.status == CampaignStatus.SENDING)
        ).all()
    if not sending:
        return {}
    seen = _seen(engine)
    out: dict[int, Unattended] = {}
    for campaign_id, started_at in sending:
        serving = [s for s in seen if s.serves(campaign_id)]
        if any(s.live(now) for s in serving):
            continue
        last = max(serving, key=lambda s: s.last_sign, default=None)
        since = max(d for d in (last.last_sign if last else None, started_at) if d is not None)
        lease = last.lease if last is not None else DEFAULT_LEASE
        idle = (now - since).total_seconds()
        if idle > lease:
            out[campaign_id] = Unattended(campaign_id, idle, lease)
    return out


def left_to_standby(engine: Engine, now: datetime | None = None) -> list[int]:
    """Scheduled and sending campaigns that no live dedicated worker serves.

    The loop inside ``newsletter serve`` sends only these: a live ``newsletter worker``
    keeps its campaigns (on SQLite there must be one sender), and one that died leaves
    them to the standby once its heartbeat is older than its lease, the moment its
    rows can be taken over anyway.
    """
    now = now or utcnow()
    with engine.connect() as conn:
        campaigns = list(
            conn.scalars(
                select(_C.c.id)
                .where(_C.c.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.SENDING]))
                .order_by(_C.c.id)
            )
        )
    if not campaigns:
        return []
    live = [s for s in _seen(engine) if not s.standby and s.live(now)]
    return [c for c in campaigns if not any(s.serves(c) for s in live)]


def standing_aside(engine: Engine, campaign_id: int, now: datetime | None = None) -> bool:
    """True when a live dedicated worker now serves ``campaign_id`` (the standby yields)."""
    now = now or utcnow()
    return any(not s.standby and s.live(now) and s.serves(campaign_id) for s in _seen(engine))


class Pulse:
    """A thread that beats and renews the owner's leases three times per lease, until closed.

    Without renewal a batch slower than its lease (a slow server) would be claimed by
    another worker while still being sent, and mailed twice; a worker that dies stops
    renewing, so its rows are still taken over once their lease ends.
    """

    def __init__(
        self,
        ledger: Ledger,
        owner: str,
        lease_seconds: float,
        *,
        scope: Sequence[int] | None = None,
        standby: bool = False,
    ) -> None:
        self._ledger, self._owner, self._lease = ledger, owner, lease_seconds
        self._scope, self._standby = scope, standby
        self._done = threading.Event()
        self._beat()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        try:
            beat(
                self._ledger.engine,
                self._owner,
                lease_seconds=self._lease,
                scope=self._scope,
                standby=self._standby,
            )
            self._ledger.renew(self._owner, self._lease)
        except Exception as exc:  # the database is away: the worker's own loop says so
            log.debug("heartbeat of %s not written: %s", self._owner, exc)

    def _run(self) -> None:
        while not self._done.wait(self._lease / 3):
            self._beat()

    def close(self) -> None:
        self._done.set()
        self._thread.join()
        try:
            stopped(self._ledger.engine, self._owner)
        except Exception as exc:
            log.debug("clean stop of %s not recorded: %s", self._owner, exc)
