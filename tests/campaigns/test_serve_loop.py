"""``newsletter serve`` sends due campaigns itself, unless told ``--no-worker``.

The README's single-machine set-up runs nothing but ``serve``: a scheduled briefing
must still go out, from the same process as the web app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.campaigns import heartbeat
from tests.campaigns.conftest import sending_campaign
from tests.campaigns.faults import Workers, finished, status, wait_for, worker_env
from tests.local import free_port


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Workers]:
    running = Workers({}, tmp_path)
    yield running
    running.stop_all()


def serve(processes: Workers, db_url: str, folder: Path, *options: str) -> None:
    processes.env = worker_env(db_url, folder)
    processes.start("serve", "--port", str(free_port()), *options)
    wait_for(lambda: "Uvicorn running" in processes.log(0), "serve to be up")


@pytest.mark.backend("sqlite")
def test_serve_alone_sends_a_due_campaign(
    db_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    processes: Workers,
    tmp_path: Path,
) -> None:
    serve(processes, db_url, tmp_path)
    campaign_id = sending_campaign(engine, sessions, 5)
    wait_for(finished(engine, campaign_id), "serve to send the campaign")
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 5
    assert all(processes.alive()) and "Traceback" not in processes.log(0)


@pytest.mark.backend("sqlite")
def test_serve_with_no_worker_sends_nothing(
    db_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    processes: Workers,
    tmp_path: Path,
) -> None:
    campaign_id = sending_campaign(engine, sessions, 5)
    serve(processes, db_url, tmp_path, "--no-worker")
    # With the loop on, its heartbeat is written before the first page is served.
    with engine.connect() as conn:
        assert conn.execute(select(heartbeat.WorkerHeartbeat)).all() == []
    assert status(engine, campaign_id) == "scheduled"
    assert not (tmp_path / "outbox" / "new").exists()
