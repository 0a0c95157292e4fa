"""Copies composed and signed in helper processes: everyone once, every signature valid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import dkim
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import helper_wiring
from newsletter.campaigns import manager
from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.models import CampaignRecipient
from newsletter.campaigns.pool import ComposePool
from newsletter.campaigns.states import CampaignStatus, RecipientState
from newsletter.config import Settings
from newsletter.mail.dkim import generate_rsa
from newsletter.worker_factory import build_worker, compose_pool
from tests.campaigns.conftest import (
    SmtpServer,
    sending_campaign,
)
from tests.campaigns.test_smtp_delivery import _fresh, _msgid, _wait_for, _worker_env


def _signing(cfg: Settings, smtp: SmtpServer, tmp_path: Path) -> tuple[Settings, Any]:
    """Settings that DKIM-sign with a fresh key, and dkimpy's DNS hook for its record."""
    pem, record = generate_rsa(2048)
    (tmp_path / "dkim.pem").write_bytes(pem)
    cfg = cfg.model_copy(
        update={
            "smtp_url": smtp.url,
            "smtp_connections": 3,
            "dkim_selector": "pool",
            "dkim_domain": "example.org",
            "dkim_key_file": tmp_path / "dkim.pem",
        }
    )

    def dnsfunc(name: bytes, timeout: int = 5, **_: Any) -> bytes | None:
        return (
            record.encode() if name.decode().rstrip(".") == "pool._domainkey.example.org" else None
        )

    return cfg, dnsfunc


def _check_delivered_once(
    smtp: SmtpServer, sessions: sessionmaker[Session], cid: int, count: int, dnsfunc: Any
) -> None:
    received = smtp.handler.received
    assert set(received) == {f"reader{i}@example.net" for i in range(1, count + 1)}
    assert set(received.values()) == {1}
    with sessions() as session:
        rows = list(
            session.scalars(select(CampaignRecipient).where(CampaignRecipient.campaign_id == cid))
        )
        assert manager.get(session, cid).status == CampaignStatus.FINISHED
    assert {r.state for r in rows} == {RecipientState.SENT}
    assert {_msgid(m).decode() for m in smtp.handler.messages} == {r.message_id for r in rows}
    for message in smtp.handler.messages:
        assert dkim.DKIM(message).verify(dnsfunc=dnsfunc)


def test_helper_processes_deliver_each_recipient_once_with_valid_dkim(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    count = 150
    cfg, dnsfunc = _signing(campaign_settings, smtp_server, tmp_path)
    cid = sending_campaign(engine, sessions, count)
    # Batches of 70 go to the helpers; the last 10 rows are composed in this process.
    stats = build_worker(cfg, batch=70, processes=2).run(once=True)
    assert stats.sent == count
    _check_delivered_once(smtp_server, sessions, cid, count, dnsfunc)


def test_helpers_started_ahead_compose_their_campaign_despite_one_that_cannot_be_built(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    """``campaign send`` starts the helpers before the ledger is filled, naming the
    campaign; one they cannot build then (no such campaign here) must not break them."""
    cid = sending_campaign(engine, sessions, 30)
    rows = Ledger(engine).claim(cid, "test", batch=30, lease_seconds=60)
    pool = ComposePool(campaign_settings, 2, composers=helper_wiring.campaign_composers, chunk=4)
    try:
        pool.start([999_999, cid])
        pool.start([cid])  # once only: a worker's own start finds them under way
        copies = list(pool.compose(cid, rows))
    finally:
        pool.close()
    assert [getattr(c, "recipient", c) for c in copies] == [row.email for row in rows]


def test_workers_with_helper_processes_share_a_campaign_on_postgresql(
    pg_url: str, settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    engine, sessions = _fresh(pg_url)
    try:
        count = 200
        cfg, dnsfunc = _signing(settings, smtp_server, tmp_path)
        cid = sending_campaign(engine, sessions, count)
        env = _worker_env(cfg, smtp_server, pg_url)
        env.update(
            {
                "NEWSLETTER_DKIM_SELECTOR": "pool",
                "NEWSLETTER_DKIM_DOMAIN": "example.org",
                "NEWSLETTER_DKIM_KEY_FILE": str(tmp_path / "dkim.pem"),
                "NEWSLETTER_SMTP_CONNECTIONS": "2",
            }
        )
        command = [sys.executable, "-m", "newsletter", "worker", "--once"]
        workers = [
            subprocess.Popen(
                [*command, "--batch", "64", "--lease", "60", "--processes", "1"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=180)[0].decode() for w in workers]
        assert all(w.returncode == 0 for w in workers), outputs
        _check_delivered_once(smtp_server, sessions, cid, count, dnsfunc)
    finally:
        engine.dispose()


def _alive_descendants(root: int) -> list[int]:
    """Processes below ``root`` (children, and the helpers a fork server made) that have
    not exited (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_helpers_end_when_their_worker_is_killed(
    settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'kill.db'}"
    engine, sessions = _fresh(db_url)
    sending_campaign(engine, sessions, 200)
    env = _worker_env(settings, smtp_server, db_url)
    env["NEWSLETTER_SEND_RATE"] = "20"  # slow enough to be killed mid-campaign
    worker = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "worker", "--batch", "64", "--processes", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: smtp_server.handler.accepted >= 3)
        helpers = _alive_descendants(worker.pid)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert helpers
    _wait_for(lambda: not any(_alive(pid) for pid in helpers), timeout=30)


@pytest.mark.parametrize(("cores", "helpers"), [(1, 1), (2, 1), (8, 7)])
def test_by_default_the_sending_process_keeps_a_core_for_itself(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, cores: int, helpers: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    pool = compose_pool(settings.model_copy(update={"send_processes": -1}))
    assert pool is not None and pool.processes == helpers
    assert compose_pool(settings, 3).processes == 3  # type: ignore[union-attr]
    assert compose_pool(settings, 0) is None  # composed in the sending process
