"""The per-recipient ledger: snapshot the audience, claim batches under a lease, settle rows.

Every write is one short transaction with plain SQL (SQLAlchemy Core) so it stays fast
at tens of thousands of rows and correct with several workers:

- PostgreSQL: the claim locks due rows with ``FOR UPDATE SKIP LOCKED`` inside one
  ``UPDATE ... RETURNING``, so concurrent workers never claim the same row.
- SQLite: the same single ``UPDATE ... RETURNING`` takes the database write lock for
  its duration, which serialises claims.

A claimed row carries ``lease_owner`` and ``lease_until``; once the lease has expired
any worker may claim it again, which is how the rows of a killed worker are taken over.
Settling a row is guarded by ``lease_owner`` so a worker that lost its lease cannot
overwrite the new owner's result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.campaigns import archive
from newsletter.campaigns.models import Campaign, CampaignRecipient
from newsletter.campaigns.states import CampaignStatus, RecipientState
from subscribers import audience, topics
from subscribers.orm import utcnow
from subscribers.tags import CampaignTag

_C = cast(Table, Campaign.__table__)
_R = cast(Table, CampaignRecipient.__table__)
_TAGGED_CAMPAIGN = cast(Table, CampaignTag.__table__)

UNSETTLED = (RecipientState.QUEUED, RecipientState.SENDING, RecipientState.DEFERRED)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A ledger row a worker now holds: who to send to and how many tries so far."""

    id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int
    topics: tuple[int, ...] = ()  # ids of the topics they follow: their sections go first


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed row. ``QUEUED`` means "not tried: give it back"."""

    row_id: int
    state: RecipientState
    code: int | None = None
    reply: str = ""
    message_id: str = ""
    next_attempt_at: datetime | None = None


def campaign_audience(conn: Connection | Session, campaign_id: int) -> audience.Audience:
    """Who this campaign is for: its list, and the topic or tag staff narrowed it to."""
    campaign = conn.execute(
        select(_C.c.list_id, _C.c.topic_list_id).where(_C.c.id == campaign_id)
    ).one()
    tag = conn.scalar(
        select(_TAGGED_CAMPAIGN.c.tag_id).where(_TAGGED_CAMPAIGN.c.campaign_id == campaign_id)
    )
    return audience.Audience(campaign.list_id, campaign.topic_list_id, tag)


class Ledger:
    """All reads and writes of campaign rows; the worker and the CLI go through it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- starting ---------------------------------------------------------------------

    def start_due(
        self, now: datetime | None = None, *, only: Sequence[int] | None = None
    ) -> list[int]:
        """Move scheduled campaigns whose time has come to ``sending``, snapshotting each."""
        now = now or utcnow()
        query = select(_C.c.id).where(_C.c.status == CampaignStatus.SCHEDULED, _C.c.send_at <= now)
        if only is not None:
            query = query.where(_C.c.id.in_(list(only)))
        with self.engine.connect() as conn:
            due = list(conn.scalars(query.order_by(_C.c.id)))
        return [campaign_id for campaign_id in due if self.start(campaign_id, now)]

    def start(self, campaign_id: int, now: datetime | None = None) -> bool:
        """Snapshot the audience with one INSERT ... SELECT; False if someone else started it.

        The status change, the snapshot and publishing the briefing's web page share one
        transaction, so of several workers racing to start a campaign exactly one inserts
        the rows, and the page goes public exactly when the send begins.
        """
        now = now or utcnow()
        with self.engine.begin() as conn:
            won = conn.execute(
                update(_C)
                .where(_C.c.id == campaign_id, _C.c.status == CampaignStatus.SCHEDULED)
                .values(status=CampaignStatus.SENDING, started_at=now, stop_reason="")
            ).rowcount
            if not won:
                return False
            archive.release_for_campaign(conn, campaign_id, now)
            chosen = campaign_audience(conn, campaign_id)
            people = audience.recipients(chosen).subquery()
            rows = select(
                literal(campaign_id),
                people.c.id,
                people.c.email,
                people.c.name,
                literal(str(RecipientState.QUEUED)),
                literal(0),
                literal(""),
                literal(""),
            ).order_by(people.c.id)
            columns = [
                "campaign_id",
                "subscriber_id",
                "email",
                "name",
                "state",
                "attempts",
                "last_reply",
                "message_id",
            ]
            conn.execute(insert(_R).from_select(columns, rows))
            total = conn.scalar(
                select(func.count()).select_from(_R).where(_R.c.campaign_id == campaign_id)
            )
            conn.execute(update(_C).where(_C.c.id == campaign_id).values(total=total or 0))
        return True

    # -- claiming ---------------------------------------------------------------------

    def sending_campaigns(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    select(_C.c.id).where(_C.c.status == CampaignStatus.SENDING).order_by(_C.c.id)
                )
            )

    def status(self, campaign_id: int) -> str:
        with self.engine.connect() as conn:
            return conn.scalar(select(_C.c.status).where(_C.c.id == campaign_id)) or ""

    def claim(
        self,
        campaign_id: int,
        owner: str,
        *,
        batch: int,
        lease_seconds: float,
        now: datetime | None = None,
    ) -> list[Claimed]:
        """Take up to ``batch`` due rows (queued, deferred and due, or with an expired lease)."""
        now = now or utcnow()
        due = or_(
            and_(
                _R.c.state.in_([RecipientState.QUEUED, RecipientState.DEFERRED]),
                or_(_R.c.next_attempt_at.is_(None), _R.c.next_attempt_at <= now),
            ),
            and_(_R.c.state == RecipientState.SENDING, _R.c.lease_until < now),
        )
        ids = (
            select(_R.c.id)
            .where(_R.c.campaign_id == campaign_id, due)
            .order_by(_R.c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(_R)
            .where(_R.c.id.in_(ids.scalar_subquery()))
            .values(
                state=RecipientState.SENDING,
                lease_owner=owner,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=_R.c.attempts + 1,
                updated_at=now,
            )
            .returning(_R.c.id, _R.c.subscriber_id, _R.c.email, _R.c.name, _R.c.attempts)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(stmt).all()
            followed = topics.chosen_by(conn, (r.subscriber_id for r in rows))
        claimed = [
            Claimed(
                r.id,
                r.subscriber_id,
                r.email,
                r.name,
                r.attempts,
                followed.get(r.subscriber_id, ()),
            )
            for r in rows
        ]
        claimed.sort(key=lambda c: c.id)
        return claimed

    def blocked(self, campaign_id: int, rows: Sequence[Claimed]) -> dict[int, str]:
        """Rows whose person must not be mailed any more, with the reason.

        Checked right before sending, so an unsubscribe, bounce, complaint or suppression
        that happened after the campaign started is honoured for the rest of the send.
        """
        if not rows:
            return {}
        with self.engine.connect() as conn:
            why = audience.refusals(
                conn, campaign_audience(conn, campaign_id), [row.subscriber_id for row in rows]
            )
        return {
            row.id: f"skipped: {why[row.subscriber_id]}" for row in rows if row.subscriber_id in why
        }

    # -- settling ---------------------------------------------------------------------

    def settle(self, owner: str, outcomes: Iterable[Outcome], now: datetime | None = None) -> int:
        """Record outcomes of rows this worker still holds; return how many were recorded."""
        now = now or utcnow()
        params = []
        for o in outcomes:
            released = o.state == RecipientState.QUEUED
            params.append(
                {
                    "rid": o.row_id,
                    "new_state": (
                        RecipientState.DEFERRED
                        if released and o.next_attempt_at is not None
                        else o.state
                    ),
                    "code": o.code,
                    "reply": o.reply[:2000],
                    "msgid": o.message_id,
                    "next_at": o.next_attempt_at,
                    "sent": now if o.state == RecipientState.SENT else None,
                    "undo": 1 if released else 0,
                }
            )
        if not params:
            return 0
        stmt = (
            update(_R)
            .where(_R.c.id == bindparam("rid"), _R.c.lease_owner == owner)
            .values(
                state=bindparam("new_state"),
                last_code=func.coalesce(bindparam("code"), _R.c.last_code),
                last_reply=func.coalesce(func.nullif(bindparam("reply"), ""), _R.c.last_reply),
                message_id=func.coalesce(func.nullif(bindparam("msgid"), ""), _R.c.message_id),
                next_attempt_at=bindparam("next_at", type_=_R.c.next_attempt_at.type),
                sent_at=bindparam("sent", type_=_R.c.sent_at.type),
                attempts=_R.c.attempts - bindparam("undo"),
                lease_owner=null(),
                lease_until=null(),
                updated_at=now,
            )
        )
        with self.engine.begin() as conn:
            result = conn.execute(stmt, params)
        return int(result.rowcount or 0)

    def renew(self, owner: str, lease_seconds: float, now: datetime | None = None) -> int:
        """Extend the lease of every row ``owner`` is still sending; how many there are.

        Rows another worker has taken over carry its name, so they are left alone.
        """
        now = now or utcnow()
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(_R)
                .where(_R.c.lease_owner == owner, _R.c.state == RecipientState.SENDING)
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            ).rowcount
        return int(renewed)

    def release(self, owner: str, row_ids: Iterable[int], retry_at: datetime | None = None) -> None:
        """Give back claimed rows that were not tried (shutdown, pause, stop, backoff)."""
        self.settle(
            owner,
            [Outcome(rid, RecipientState.QUEUED, next_attempt_at=retry_at) for rid in row_ids],
        )

    def finish_if_settled(self, campaign_id: int, now: datetime | None = None) -> bool:
        """Mark the campaign finished once no row is queued, sending or deferred."""
        now = now or utcnow()
        pending = exists().where(_R.c.campaign_id == campaign_id, _R.c.state.in_(UNSETTLED))
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_C)
                .where(_C.c.id == campaign_id, _C.c.status == CampaignStatus.SENDING, ~pending)
                .values(status=CampaignStatus.FINISHED, finished_at=now)
            ).rowcount
        return bool(done)

    def stop(self, campaign_id: int, reason: str) -> None:
        """Stop a sending campaign because the transport refuses us; staff must resume it."""
        with self.engine.begin() as conn:
            conn.execute(
                update(_C)
                .where(_C.c.id == campaign_id, _C.c.status == CampaignStatus.SENDING)
                .values(status=CampaignStatus.STOPPED, stop_reason=reason[:2000])
            )

    # -- reading ----------------------------------------------------------------------

    def counts(self, campaign_id: int) -> dict[str, int]:
        """Rows per state (every state present, zero when none)."""
        out = {str(state): 0 for state in RecipientState}
        with self.engine.connect() as conn:
            for state, count in conn.execute(
                select(_R.c.state, func.count())
                .where(_R.c.campaign_id == campaign_id)
                .group_by(_R.c.state)
            ):
                out[state] = int(count)
        return out

    def next_due(self, campaign_id: int) -> datetime | None:
        """When the earliest unsettled row becomes claimable (None: nothing left)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_R.c.state, _R.c.next_attempt_at, _R.c.lease_until).where(
                    _R.c.campaign_id == campaign_id, _R.c.state.in_(UNSETTLED)
                )
            ).all()
        times = []
        for state, next_at, lease_until in rows:
            when = lease_until if state == RecipientState.SENDING else next_at
            times.append(when or utcnow())
        return min(times) if times else None

    def problems(self, campaign_id: int, limit: int = 1000) -> list[CampaignRecipient]:
        """Failed and deferred rows with their last reply, for ``campaign status --failures``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_R)
                .where(
                    _R.c.campaign_id == campaign_id,
                    _R.c.state.in_([RecipientState.FAILED, RecipientState.DEFERRED]),
                )
                .order_by(_R.c.id)
                .limit(limit)
            ).all()
        return [CampaignRecipient(**row._mapping) for row in rows]
