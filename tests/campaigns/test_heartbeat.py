"""Heartbeats: staff are told when a sending campaign has nobody sending it, and the
loop inside ``newsletter serve`` stands by for live workers and takes over from dead ones.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from newsletter.campaigns import heartbeat
from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.models import Campaign
from newsletter.campaigns.states import CampaignStatus
from newsletter.cli.app import app
from newsletter.config import Settings
from newsletter.mail.transports.memory import MemoryTransport
from subscribers.orm import utcnow
from tests.campaigns.conftest import sending_campaign
from tests.campaigns.test_worker import make_worker


def started_ago(engine: Engine, sessions: sessionmaker[Session], minutes: float) -> int:
    """A campaign to three readers whose send began ``minutes`` ago."""
    campaign_id = sending_campaign(engine, sessions, 3)
    assert Ledger(engine).start(campaign_id, utcnow() - timedelta(minutes=minutes))
    return campaign_id


def status_of(sessions: sessionmaker[Session], campaign_id: int) -> str:
    with sessions() as session:
        return str(session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)))


def test_status_and_list_say_when_no_worker_has_been_alive_for_a_lease(
    cli_env: Path, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    campaign_id = started_ago(engine, sessions, 20)
    seen = utcnow() - timedelta(minutes=9)  # a worker last seen 9 minutes ago, lease 5 min
    heartbeat.beat(engine, "dead-worker", lease_seconds=300, now=seen)

    shown = CliRunner().invoke(app, ["campaign", "status", str(campaign_id)])
    assert shown.exit_code == 0, shown.output
    assert "Stalled: no worker has been alive" in shown.output and "9 min" in shown.output
    assert "newsletter worker" in shown.output
    listed = CliRunner().invoke(app, ["campaign", "list"])
    assert "sending*" in listed.output and f"* campaign {campaign_id}: no worker" in listed.output

    heartbeat.beat(engine, "live-worker", lease_seconds=300)
    shown = CliRunner().invoke(app, ["campaign", "status", str(campaign_id)])
    assert "Stalled" not in shown.output and "no worker" not in shown.output
    listed = CliRunner().invoke(app, ["campaign", "list"])
    assert "sending*" not in listed.output and "no worker" not in listed.output


def test_a_campaign_is_unattended_only_once_a_lease_has_passed(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    campaign_id = started_ago(engine, sessions, 1)
    assert heartbeat.unattended(engine) == {}  # nobody yet, but not for a whole lease
    later = utcnow() + timedelta(seconds=300)
    assert campaign_id in heartbeat.unattended(engine, later)

    heartbeat.beat(engine, "other-campaign", lease_seconds=60, scope=[campaign_id + 1])
    assert campaign_id in heartbeat.unattended(engine, later)  # serves something else
    heartbeat.beat(engine, "w", lease_seconds=60, scope=[campaign_id])
    assert heartbeat.unattended(engine) == {}
    gone = heartbeat.unattended(engine, utcnow() + timedelta(seconds=61))
    assert gone[campaign_id].lease_seconds == 60 and gone[campaign_id].for_seconds > 60

    heartbeat.stopped(engine, "w")  # a clean stop: unattended a lease after it
    assert heartbeat.unattended(engine) == {}
    assert campaign_id in heartbeat.unattended(engine, utcnow() + timedelta(seconds=61))


def test_the_standby_loop_waits_for_a_live_worker_and_takes_over_from_a_dead_one(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    campaign_id = sending_campaign(engine, sessions, 12)  # due now, not started
    heartbeat.beat(engine, "dedicated", lease_seconds=30)
    transport = MemoryTransport()
    standby = make_worker(engine, sessions, campaign_settings, transport, standby=True)
    standby.run(once=True)
    assert transport.sent == [] and status_of(sessions, campaign_id) == CampaignStatus.SCHEDULED

    heartbeat.beat(engine, "dedicated", lease_seconds=30, now=utcnow() - timedelta(seconds=31))
    standby = make_worker(engine, sessions, campaign_settings, transport, standby=True)
    standby.run(once=True)
    assert len(transport.sent) == 12
    assert status_of(sessions, campaign_id) == CampaignStatus.FINISHED


def test_a_worker_is_live_while_it_runs_and_recorded_as_stopped_after(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    campaign_id = started_ago(engine, sessions, 20)
    assert campaign_id in heartbeat.unattended(engine)
    worker = make_worker(engine, sessions, campaign_settings, MemoryTransport(), lease_seconds=30)
    seen: list[bool] = []
    worker.on_batch = lambda report: seen.append(campaign_id in heartbeat.unattended(engine))
    worker.run(once=True)
    assert seen and not any(seen)  # live during the send
    assert heartbeat.left_to_standby(engine) == []  # finished: nothing left for anyone
    with engine.connect() as conn:
        row = conn.execute(select(heartbeat.WorkerHeartbeat)).one()
    assert row.owner == worker.owner and row.stopped_at is not None


def test_the_standby_loop_hands_over_as_soon_as_a_worker_comes_alive(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    campaign_id = sending_campaign(engine, sessions, 30)
    transport = MemoryTransport()
    standby = make_worker(engine, sessions, campaign_settings, transport, standby=True)
    standby.on_batch = lambda report: heartbeat.beat(engine, "dedicated", lease_seconds=30)
    standby.run(once=True)
    assert len(transport.sent) == 10  # the batch in flight, nothing after it
    counts = Ledger(engine).counts(campaign_id)
    assert counts["sent"] == 10 and counts["queued"] == 20 and counts["sending"] == 0
