"""Campaigns against a real SMTP server (aiosmtpd) and real worker processes.

The server refuses chosen recipients, or everything after N messages; worker
processes are killed with SIGKILL mid-campaign; several workers share one
campaign on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns import manager
from newsletter.campaigns.models import CampaignRecipient
from newsletter.campaigns.states import CampaignStatus, RecipientState
from newsletter.config import Settings
from newsletter.worker_factory import build_worker
from subscribers.models import Subscriber
from subscribers.orm import Base
from tests.campaigns.conftest import (
    SmtpServer,
    new_campaign,
    seed_audience,
    sending_campaign,
    start_campaign,
)

ROOT = Path(__file__).resolve().parents[2]


def states(sessions: sessionmaker[Session], campaign_id: int) -> dict[str, CampaignRecipient]:
    with sessions() as session:
        rows = session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
        )
        return {r.email: r for r in rows}


def test_every_row_settles_by_the_servers_answers(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    seed_audience(engine, 12)
    rules = smtp_server.handler.rules
    rules.always["reader2@example.net"] = "550 5.1.1 <reader2@example.net>: User unknown"
    rules.at_rcpt["reader3@example.net"] = ["451 4.3.0 Try again later"]
    rules.always["reader4@example.net"] = "452 4.2.2 Mailbox full"
    cfg = campaign_settings.model_copy(update={"smtp_url": smtp_server.url, "send_retry_limit": 3})
    cid = new_campaign(sessions)
    start_campaign(sessions, cid)
    build_worker(cfg, batch=5).run(once=True)

    rows = states(sessions, cid)
    assert rows["reader2@example.net"].state == RecipientState.FAILED
    assert rows["reader2@example.net"].last_code == 550
    assert rows["reader3@example.net"].state == RecipientState.SENT
    assert rows["reader3@example.net"].attempts == 2
    assert rows["reader4@example.net"].state == RecipientState.FAILED
    assert rows["reader4@example.net"].attempts == 3
    sent = {e for e, r in rows.items() if r.state == RecipientState.SENT}
    assert sent == set(smtp_server.handler.received)
    assert len(sent) == 10 and all(n == 1 for n in smtp_server.handler.received.values())
    with sessions() as session:
        assert manager.get(session, cid).status == CampaignStatus.FINISHED
        bounced = session.scalars(select(Subscriber.email).where(Subscriber.status == "bounced"))
        assert list(bounced) == ["reader2@example.net"]  # soft failures blame nobody


def test_a_server_that_closes_after_n_messages_defers_the_rest(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    seed_audience(engine, 15)
    smtp_server.handler.rules.after = 6
    cfg = campaign_settings.model_copy(update={"smtp_url": smtp_server.url})
    cid = new_campaign(sessions)
    start_campaign(sessions, cid)
    build_worker(cfg, batch=4).run(once=True)
    rows = states(sessions, cid)
    assert sum(r.state == RecipientState.SENT for r in rows.values()) == 6
    assert not any(r.state == RecipientState.FAILED for r in rows.values())

    # Later the server accepts again and the retry time has come.
    smtp_server.handler.rules.after = None
    with sessions.begin() as session:
        session.execute(update(CampaignRecipient).values(next_attempt_at=None))
    build_worker(cfg, batch=4).run(once=True)
    rows = states(sessions, cid)
    assert all(r.state == RecipientState.SENT for r in rows.values())
    assert sorted(smtp_server.handler.received.values()) == [1] * 15


def _worker_env(cfg: Settings, smtp: SmtpServer, db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "NEWSLETTER_DATABASE_URL": db_url,
            "NEWSLETTER_SMTP_URL": smtp.url,
            "NEWSLETTER_SECRET_KEY": cfg.secret_key.get_secret_value(),
            "NEWSLETTER_SENDER_ADDRESS": cfg.sender_address,
            "NEWSLETTER_PUBLIC_BASE_URL": cfg.public_base_url,
            "NEWSLETTER_SEND_RETRY_DELAY": "0",
        }
    )
    return env


def _spawn(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "worker", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the worker never got that far")
        time.sleep(0.02)


def _fresh(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """A migrated, emptied database of our own (these tests run once, not per backend)."""
    engine = database.open_database(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return engine, database.session_factory(engine)


def test_a_worker_killed_mid_campaign_loses_nobody_and_repeats_at_most_one_batch(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'kill.db'}"
    engine, sessions = _fresh(db_url)
    campaign_settings = settings
    count, batch = 60, 5
    cid = sending_campaign(engine, sessions, count)
    env = _worker_env(campaign_settings, smtp_server, db_url)
    env["NEWSLETTER_SEND_RATE"] = "40"  # slow enough to be killed mid-campaign
    first = _spawn(env, tmp_path, "--batch", str(batch), "--lease", "1")
    try:
        _wait_for(lambda: smtp_server.handler.accepted >= 12)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()  # waits, and closes the output pipe
    assert smtp_server.handler.accepted < count  # it really died mid-campaign

    env.pop("NEWSLETTER_SEND_RATE")
    second = subprocess.run(
        [sys.executable, "-m", "newsletter", "worker", "--once", "--batch", str(batch)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stdout + second.stderr

    received = smtp_server.handler.received
    assert set(received) == {f"reader{i}@example.net" for i in range(1, count + 1)}
    assert sum(received.values()) - count <= batch
    rows = states(sessions, cid)
    assert all(r.state == RecipientState.SENT for r in rows.values())
    # A repeated copy carries the same Message-ID, so receivers can drop it.
    ids = [m for m in smtp_server.handler.messages if b"Message-ID" in m]
    assert len({_msgid(m) for m in ids}) == count


def test_sigterm_finishes_the_message_in_flight_and_gives_back_the_rest(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'term.db'}"
    engine, sessions = _fresh(db_url)
    cid = sending_campaign(engine, sessions, 40)
    env = _worker_env(settings, smtp_server, db_url)
    env["NEWSLETTER_SEND_RATE"] = "20"
    worker = _spawn(env, tmp_path, "--batch", "10")
    try:
        _wait_for(lambda: smtp_server.handler.accepted >= 5)
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0].decode()
    finally:
        worker.kill()
        worker.communicate()  # closes the output pipe if the wait above failed
    assert worker.returncode == 0, output
    rows = states(sessions, cid)
    sent = {e for e, r in rows.items() if r.state == RecipientState.SENT}
    assert sent == set(smtp_server.handler.received)  # the ledger knows exactly who got it
    assert len(sent) < 40
    assert {r.state for e, r in rows.items() if e not in sent} == {RecipientState.QUEUED}


def _msgid(message: bytes) -> bytes:
    for line in message.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip()
    return b""


def test_several_workers_share_a_campaign_on_postgresql_exactly_once(
    pg_url: str, settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    engine, sessions = _fresh(pg_url)
    try:
        count = 90
        cid = sending_campaign(engine, sessions, count)
        env = _worker_env(settings, smtp_server, pg_url)
        workers = [
            _spawn(env, tmp_path, "--once", "--batch", "4", "--lease", "60") for _ in range(3)
        ]
        outputs = [w.communicate(timeout=120)[0].decode() for w in workers]
        assert all(w.returncode == 0 for w in workers), outputs
        received = smtp_server.handler.received
        assert len(received) == count and set(received.values()) == {1}
        rows = states(sessions, cid)
        assert all(r.state == RecipientState.SENT for r in rows.values())
        with sessions() as session:
            assert manager.get(session, cid).status == CampaignStatus.FINISHED
    finally:
        engine.dispose()
