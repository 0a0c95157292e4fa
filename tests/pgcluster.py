"""A private PostgreSQL cluster the tests may stop and restart at will.

The machine's shared server (5432) is used by every other test run at once and must
never be restarted; fault tests start their own cluster with ``initdb``/``pg_ctl`` in
a temporary folder, on a free loopback port. PostgreSQL refuses to run as root, so
as root the cluster belongs to the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.local import free_port, missing

START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections


def _bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class Cluster:
    """``initdb`` + ``pg_ctl`` on 127.0.0.1:``port``, data in a temporary folder."""

    def __init__(self) -> None:
        binaries = _bin()
        if binaries is None:
            missing("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        self.bin: Path = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="nl-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                missing("running as root, and there is no postgres user to own a cluster")
            self.user = "postgres"
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=START_TIMEOUT + 30)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        (self.data / "postgresql.auto.conf").write_text("")  # owned by the cluster's user
        self._options = options

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", self._options, "-l", str(self.root / "log"),
            "-w", "-t", str(START_TIMEOUT), "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """What a minor-version upgrade or a fail-over does: every connection dropped."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-m", "fast", "-l", str(self.root / "log"),
            "-w", "-t", str(START_TIMEOUT), "restart",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A running private cluster, stopped and deleted afterwards."""
    cluster = Cluster()
    started = False
    try:
        cluster.init()
        cluster.start()
        started = True
        yield cluster
    finally:
        if started:
            try:
                cluster.stop()
            except subprocess.SubprocessError:
                time.sleep(0)  # already stopped by the test: nothing left to do
        cluster.remove()
