"""The fault suite's harness: real ``newsletter worker`` processes, a relay we can kill.

Workers run as an operator runs them (``python -m newsletter worker``), each logging
to its own file, so a test reads what the operator would: which lines they printed,
whether any exited, what each reader received. Every wait is on a condition, bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from newsletter.campaigns.models import Campaign
from newsletter.campaigns.states import CampaignStatus
from tests.conftest import TEST_SECRET

WAIT = 120.0  # seconds: the bound on every wait of the fault suite
ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
    """Poll ``condition`` until true; the monotonic time it became true. Fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic()


class Counting:
    """An SMTP handler that accepts everything and counts copies per reader, with times."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.times: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt.lower()] += 1
            self.times.append(time.monotonic())
        return "250 2.0.0 Message accepted"

    @property
    def delivered(self) -> int:
        with self.lock:
            return len(self.times)


class Relay:
    """aiosmtpd on a fixed loopback port, stopped and started again like a real relay."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = Counting()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/?timeout=5"

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def kill(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class Workers:
    """``newsletter worker`` processes sharing one database, each with its own log."""

    env: dict[str, str]
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"worker-{len(self.processes)}.log"
        command = [sys.executable, "-m", "newsletter", *args]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(proc)
        self.logs.append(log)
        return proc

    def log(self, index: int) -> str:
        return self.logs[index].read_text(errors="replace")

    def alive(self) -> list[bool]:
        return [p.poll() is None for p in self.processes]

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def worker_env(database_url: str, folder: Path, **settings: str) -> dict[str, str]:
    """The environment of a worker: the test database, no developer ``.env``, fast retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        PYTHONPATH=str(ROOT),
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=TEST_SECRET,
        NEWSLETTER_SENDER_ADDRESS="briefings@example.org",
        NEWSLETTER_PUBLIC_BASE_URL="https://news.example.org",
        NEWSLETTER_OUTBOX_DIR=str(folder / "outbox"),
        NEWSLETTER_SEND_RETRY_DELAY="0",
        NEWSLETTER_SEND_PROCESSES="0",
    )
    env.update({f"NEWSLETTER_{k.upper()}": v for k, v in settings.items()})
    return env


def status(engine: Engine, campaign_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(select(Campaign.status).where(Campaign.id == campaign_id)))


def finished(engine: Engine, campaign_id: int) -> Callable[[], bool]:
    """A condition: the campaign is finished (a database still down counts as not yet)."""

    def check() -> bool:
        try:
            return status(engine, campaign_id) == CampaignStatus.FINISHED
        except Exception:
            return False

    return check


@dataclass(frozen=True)
class Figures:
    """What a fault did to a send, as the closing note reports it."""

    fault: str
    readers: int
    delivered: int
    duplicates: int
    recovered_seconds: float

    def line(self) -> str:
        return (
            f"FAULT {self.fault}: {self.delivered}/{self.readers} readers delivered, "
            f"{self.duplicates} duplicate(s), resumed {self.recovered_seconds:.1f} s "
            "after the fault ended"
        )


def figures(fault: str, received: Counter[str], readers: int, resumed: float) -> Figures:
    return Figures(
        fault,
        readers,
        len(received),
        sum(count - 1 for count in received.values() if count > 1),
        resumed,
    )


def report(result: Figures) -> None:
    """Print the figures (``pytest -s`` shows them) and keep them beside the test run."""
    print(result.line())
    out = os.environ.get("NEWSLETTER_FAULT_REPORT")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(result.line() + "\n")
