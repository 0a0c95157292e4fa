"""The fault suite: a send meets the faults an operator meets, and finishes by itself.

Real ``newsletter worker`` processes send a campaign into a real SMTP server (or the
Maildir outbox) while the test breaks something mid-send: PostgreSQL restarted (a
private cluster: the machine's shared server is never touched), the relay killed and
started again, a worker SIGKILLed, the outbox's disk full. Each time every reader
gets exactly one copy except at most one batch, no worker exits, and the campaign
ends "finished" without anyone restarting anything. Every wait is on a condition
and bounded; the figures (delivered, duplicates, time to recover) are printed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from newsletter import database
from newsletter.campaigns.models import CampaignRecipient
from newsletter.campaigns.states import RecipientState
from tests.campaigns.conftest import new_campaign, seed_audience, start_campaign
from tests.campaigns.faults import (
    Relay,
    Workers,
    figures,
    finished,
    report,
    wait_for,
    worker_env,
)
from tests.local import free_port
from tests.pgcluster import Cluster, private_cluster

# NEWSLETTER_FAULT_READERS / _RATE scale a run up by hand (3,000 readers, say).
READERS = int(os.environ.get("NEWSLETTER_FAULT_READERS", "360"))
BATCH = 20  # rows a worker claims at a time: the most a fault may repeat
LEASE = 3  # seconds, so a dead worker's rows come back quickly
# Messages per second per worker: slow enough to break things mid-send.
RATE = os.environ.get("NEWSLETTER_FAULT_RATE", "40")
WORKER = ("worker", "--batch", str(BATCH), "--lease", str(LEASE))


def campaign(engine: Engine) -> int:
    """A campaign to READERS readers, due now: the workers start it."""
    seed_audience(engine, READERS)
    sessions = database.session_factory(engine)
    campaign_id = new_campaign(sessions)
    start_campaign(sessions, campaign_id)
    return campaign_id


def how_many(backend: str) -> int:
    """Three workers share a campaign on PostgreSQL; SQLite has exactly one sender."""
    return 3 if backend == "postgresql" else 1


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def assert_clean(workers: Workers, received: Counter[str]) -> None:
    """Every reader has a copy, at most one batch twice, no worker exited or crashed."""
    assert len(received) == READERS
    assert sum(n - 1 for n in received.values() if n > 1) <= BATCH
    assert all(workers.alive()), [workers.log(i) for i in range(len(workers.processes))]
    for i in range(len(workers.processes)):
        assert "Traceback" not in workers.log(i)


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = Relay(free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers({}, tmp_path)
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_cluster() as running:
        yield running


# -- PostgreSQL restarted -------------------------------------------------------------


def test_workers_live_through_a_postgresql_restart(
    cluster: Cluster, relay: Relay, workers: Workers, tmp_path: Path
) -> None:
    url = cluster.create_database(f"fault_{uuid.uuid4().hex[:8]}")
    engine = database.open_database(url)
    campaign_id = campaign(engine)
    workers.env = worker_env(url, tmp_path, smtp_url=relay.url, send_rate=RATE)
    for _ in range(3):
        workers.start(*WORKER)
    wait_for(lambda: relay.handler.delivered >= READERS // 4, "a quarter of the readers served")

    cluster.stop()  # as a minor-version upgrade or a fail-over does, held until noticed
    wait_for(
        lambda: all("database unavailable" in workers.log(i) for i in range(3)),
        "every worker noticing the outage",
    )
    cluster.start()
    back, before = time.monotonic(), relay.handler.delivered
    done = finished(engine, campaign_id)
    resumed = wait_for(lambda: relay.handler.delivered > before or done(), "sending to resume")
    wait_for(finished(engine, campaign_id), "the campaign to finish")
    engine.dispose()

    result = figures("postgresql restart", relay.handler.received, READERS, resumed - back)
    report(result)
    assert_clean(workers, relay.handler.received)
    for i in range(3):
        log = workers.log(i)
        assert log.count("database unavailable") == 1 and log.count("database back") == 1, log


# -- the relay killed and started again ---------------------------------------------


def test_workers_live_through_the_relay_dying(
    db_url: str, engine: Engine, relay: Relay, workers: Workers, tmp_path: Path
) -> None:
    backend, count = backend_of(db_url), how_many(backend_of(db_url))
    campaign_id = campaign(engine)
    workers.env = worker_env(db_url, tmp_path, smtp_url=relay.url, send_rate=RATE)
    for _ in range(count):
        workers.start(*WORKER)
    wait_for(lambda: relay.handler.delivered >= READERS // 4, "a quarter of the readers served")

    relay.kill()
    wait_for(
        lambda: all("transport unavailable" in workers.log(i) for i in range(count)),
        "every worker noticing the relay is gone",
    )
    relay.start()
    back, before = time.monotonic(), relay.handler.delivered
    done = finished(engine, campaign_id)
    resumed = wait_for(lambda: relay.handler.delivered > before or done(), "sending to resume")
    wait_for(finished(engine, campaign_id), "the campaign to finish")

    report(figures(f"relay killed ({backend})", relay.handler.received, READERS, resumed - back))
    assert_clean(workers, relay.handler.received)


# -- a worker SIGKILLed -------------------------------------------------------------


def owner_of(workers: Workers, index: int) -> str:
    found = re.search(r"worker (\S+) started", workers.log(index))
    assert found is not None, workers.log(index)
    return found.group(1)


def held_by(engine: Engine, owner: str) -> int:
    rows = CampaignRecipient.__table__
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(rows)
                .where(
                    CampaignRecipient.lease_owner == owner,
                    CampaignRecipient.state == RecipientState.SENDING,
                )
            )
            or 0
        )


@pytest.mark.backend("postgresql")
def test_the_others_take_over_from_a_sigkilled_worker(
    db_url: str, engine: Engine, relay: Relay, workers: Workers, tmp_path: Path
) -> None:
    campaign_id = campaign(engine)
    workers.env = worker_env(db_url, tmp_path, smtp_url=relay.url, send_rate=RATE)
    for _ in range(3):
        workers.start(*WORKER)
    wait_for(lambda: relay.handler.delivered >= READERS // 4, "a quarter of the readers served")
    wait_for(lambda: "started" in workers.log(0), "the first worker's greeting")
    victim = owner_of(workers, 0)

    killed = time.monotonic()
    workers.processes[0].send_signal(signal.SIGKILL)
    workers.processes[0].wait(10)
    taken_over = wait_for(lambda: held_by(engine, victim) == 0, "the dead worker's rows")
    wait_for(finished(engine, campaign_id), "the campaign to finish")

    received = relay.handler.received
    report(figures("worker SIGKILLed (postgresql)", received, READERS, taken_over - killed))
    survivors = Workers(workers.env, tmp_path, workers.processes[1:], workers.logs[1:])
    assert_clean(survivors, relay.handler.received)


@pytest.mark.backend("sqlite")
def test_serve_picks_up_from_a_sigkilled_worker_on_sqlite(
    db_url: str, engine: Engine, relay: Relay, workers: Workers, tmp_path: Path
) -> None:
    """On SQLite there is one sender: serve's loop stands by while the worker lives,
    and sends the rest once the worker has been dead for longer than its lease."""
    campaign_id = campaign(engine)
    workers.env = worker_env(db_url, tmp_path, smtp_url=relay.url, send_rate=RATE)
    workers.start(*WORKER)
    wait_for(lambda: relay.handler.delivered >= READERS // 8, "the worker sending")
    port = free_port()
    workers.start("serve", "--port", str(port))
    wait_for(lambda: "Uvicorn running" in workers.log(1), "serve to be up")
    wait_for(lambda: relay.handler.delivered >= READERS // 4, "a quarter of the readers served")

    killed = time.monotonic()
    workers.processes[0].send_signal(signal.SIGKILL)
    workers.processes[0].wait(10)
    at_kill = relay.handler.delivered
    done = finished(engine, campaign_id)
    resumed = wait_for(lambda: relay.handler.delivered > at_kill or done(), "serve taking over")
    wait_for(finished(engine, campaign_id), "the campaign to finish")

    result = figures(
        "worker SIGKILLed, serve takes over (sqlite)",
        relay.handler.received,
        READERS,
        resumed - killed,
    )
    report(result)
    serve = Workers(workers.env, tmp_path, workers.processes[1:], workers.logs[1:])
    assert_clean(serve, relay.handler.received)


# -- the outbox's disk full -----------------------------------------------------------


def outbox_readers(outbox: Path) -> Counter[str]:
    """Copies per reader in the Maildir outbox (its ``Delivered-To`` line)."""
    got: Counter[str] = Counter()
    for path in (outbox / "new").iterdir():
        with path.open("rb") as fh:
            for line in (fh.readline(), fh.readline()):
                if line.startswith(b"Delivered-To:"):
                    got[line.split(b":", 1)[1].strip().decode().lower()] += 1
    return got


def in_outbox(outbox: Path) -> int:
    try:
        return len(os.listdir(outbox / "new"))
    except FileNotFoundError:
        return 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs for the outbox (about twice the campaign), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    size = max(48, READERS // 10)  # MB: a copy is about 45 kB
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}m", "tmpfs", str(mount)],
        capture_output=True,
        timeout=30,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte with one file; deleting it frees the space."""
    filler = disk / "filler"
    block = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as fh:
        while True:
            try:
                fh.write(block)
            except OSError:
                block = block[: len(block) // 2]
                if len(block) < 512:
                    break
    return filler


def test_workers_live_through_a_full_outbox_disk(
    db_url: str, engine: Engine, workers: Workers, small_disk: Path, tmp_path: Path
) -> None:
    backend, count = backend_of(db_url), how_many(backend_of(db_url))
    outbox = small_disk / "outbox"
    campaign_id = campaign(engine)
    workers.env = worker_env(db_url, tmp_path, outbox_dir=str(outbox), send_rate=RATE)
    for _ in range(count):
        workers.start(*WORKER)
    wait_for(lambda: in_outbox(outbox) >= READERS // 4, "a quarter of the readers served")

    filler = fill(small_disk)
    wait_for(
        lambda: all("cannot write to the outbox" in workers.log(i) for i in range(count)),
        "every worker noticing the full disk",
    )
    filler.unlink()
    back, before = time.monotonic(), in_outbox(outbox)
    done = finished(engine, campaign_id)
    resumed = wait_for(lambda: in_outbox(outbox) > before or done(), "sending to resume")
    wait_for(finished(engine, campaign_id), "the campaign to finish")

    received = outbox_readers(outbox)
    report(figures(f"outbox disk full ({backend})", received, READERS, resumed - back))
    assert_clean(workers, received)
