"""Click-redirect throughput: ``/r/{token}`` on ``newsletter serve`` against a bare app.

After a large send clicks arrive in bursts. This drives the tracked-link endpoint with
Debian's ``wrk`` (many concurrent connections) in one run against:

- a bare Starlette app answering the same 302 and doing nothing else (the ceiling),
- ``newsletter serve`` on SQLite, and on the machine's PostgreSQL,

each a single uvicorn process. It prints requests per second, latency percentiles, the
ratio to the bare app, and checks that every click answered was stored. It then repeats
a shorter run and sends SIGTERM to the server in the middle of it: every redirect the
clients received must be in the database after the server exits.

    .venv/bin/python bench/clicks.py [--seconds 10] [--connections 64] [--only sqlite]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import database  # noqa: E402
from newsletter.campaigns.models import Campaign  # noqa: E402
from newsletter.config import Settings  # noqa: E402
from newsletter.results import linktable  # noqa: E402
from newsletter.results.models import CampaignLink, Click  # noqa: E402
from subscribers.models import MailingList  # noqa: E402

SECRET = "bench-secret-0123456789"
TARGET = "https://www.example.org/papers/112-foreign-ministers"
PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
WRK = "/usr/bin/wrk"


def bare_app() -> object:
    """The ceiling: the same 302, no token check, no recording."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def follow(_request: object) -> RedirectResponse:
        return RedirectResponse(TARGET, status_code=302, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/r/{token}", follow, methods=["GET", "HEAD"])])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(db_url: str) -> str:
    """A started campaign with one stored link; the path of that link's /r/ token."""
    engine = database.open_database(db_url)
    with engine.begin() as conn:
        list_id = conn.scalar(
            insert(MailingList).values(slug="bench", name="Bench").returning(MailingList.id)
        )
        campaign_id = conn.execute(
            insert(Campaign)
            .values(briefing_path="bench.md", source_text="", subject="Bench", list_id=list_id)
            .returning(Campaign.id)
        ).scalar_one()
        conn.execute(
            insert(CampaignLink).values(campaign_id=campaign_id, idx=0, url=TARGET, text="Paper")
        )
    engine.dispose()
    settings = Settings(_env_file=None, secret_key=SECRET)
    return f"/r/{linktable.click_token(settings, campaign_id, 0, None)}"


def stored_clicks(db_url: str) -> int:
    engine = database.open_database(db_url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Click)) or 0
    engine.dispose()
    return count


def start(
    command: list[str], env: dict[str, str], workdir: Path, port: int
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"server-{port}.log").open("wb"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start: {(workdir / f'server-{port}.log').read_text()}")


def newsletter_serve(db_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(
        os.environ,
        NEWSLETTER_DATABASE_URL=db_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_TRACKING="aggregate",
        NEWSLETTER_OUTBOX_DIR=str(workdir / "outbox"),
    )
    binary = str(ROOT / ".venv" / "bin" / "newsletter")
    command = [binary, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return start(command, env, workdir, port), port


def bare_serve(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "bench.clicks:bare_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return start(command, env, workdir, port), port


@dataclass
class Load:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float = 0.0  # the server's CPU time per request: what the machine's load moves least


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(proc: subprocess.Popen[bytes], url: str, seconds: float, connections: int) -> Load:
    before = cpu_seconds(proc.pid)
    load = wrk(url, seconds, connections)
    load.cpu_us = (cpu_seconds(proc.pid) - before) / max(1, load.requests) * 1e6
    return load


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise SystemExit(f"cannot read wrk's latency {text!r}")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, seconds: float, connections: int) -> Load:
    out = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{int(seconds)}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(requests, rps, p50, p99, errors + (int(bad.group(1)) if bad else 0))


def stop(proc: subprocess.Popen[bytes]) -> float:
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return time.monotonic() - began


def sigterm_run(db_url: str, workdir: Path, seconds: float, connections: int) -> tuple[int, int]:
    """(redirects the clients received, clicks stored) for a run cut by SIGTERM midway."""
    before = stored_clicks(db_url)
    proc, port = newsletter_serve(db_url, workdir)
    path = seed_path[db_url]
    load = subprocess.Popen(
        [WRK, "-t2", f"-c{connections}", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}{path}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds / 2)
    stop(proc)
    out, _ = load.communicate()
    received = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    received -= int(bad.group(1)) if bad else 0
    return received, stored_clicks(db_url) - before


seed_path: dict[str, str] = {}


def run(label: str, db_url: str, args: argparse.Namespace, bare: Load) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seed_path[db_url] = seed(db_url)
        proc, port = newsletter_serve(db_url, workdir)
        url = f"http://127.0.0.1:{port}{seed_path[db_url]}"
        # Warm up the process that is measured (link table read, connections open), as
        # the bare app is; its clicks are stored too, so they count as answered.
        warm = wrk(url, 2, args.connections)
        load = measured(proc, url, args.seconds, args.connections)
        drain = stop(proc)
        stored = stored_clicks(db_url) - warm.requests
        cut_received, cut_stored = sigterm_run(db_url, workdir, args.seconds, args.connections)
    ratio = load.rps / bare.rps if bare.rps else 0.0
    lost = max(0, load.requests - stored)
    cut_lost = max(0, cut_received - cut_stored)
    ok = ratio >= 0.5 and load.p99_ms < 50 and lost == 0 and cut_lost == 0
    complete = lost == 0 and cut_lost == 0
    print(
        f"  {label:<10} {load.rps:>8,.0f} req/s  p50 {load.p50_ms:6.2f} ms  "
        f"p99 {load.p99_ms:6.2f} ms  {ratio:4.2f}x bare  cpu {load.cpu_us:.0f} us/req "
        f"({bare.cpu_us / load.cpu_us if load.cpu_us else 0:.2f}x bare)  errors {load.errors}  "
        f"answered {load.requests:,} stored {stored:,} lost {lost}  shutdown {drain:.1f} s"
    )
    print(
        f"  {'':<10} SIGTERM mid-run: {cut_received:,} redirects received, "
        f"{cut_stored:,} clicks stored, lost {cut_lost}"
        f"   {'ok' if ok else 'BELOW TARGET (>= 0.5x bare, p99 < 50 ms, none lost)'}"
    )
    return complete


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.clicks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed: sudo apt-get install wrk (make bench does)")
    load_avg = os.getloadavg()[0]
    print(
        f"bench/clicks.py: wrk -t2 -c{args.connections} -d{args.seconds:g}s, one uvicorn "
        f"process each, {os.cpu_count()} CPUs shared with other work (load {load_avg:.1f})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = bare_serve(Path(tmp))
        wrk(f"http://127.0.0.1:{port}/r/warm", 2, args.connections)
        bare = measured(proc, f"http://127.0.0.1:{port}/r/x", args.seconds, args.connections)
        stop(proc)
    print(
        f"  {'bare':<10} {bare.rps:>8,.0f} req/s  p50 {bare.p50_ms:6.2f} ms  "
        f"p99 {bare.p99_ms:6.2f} ms  cpu {bare.cpu_us:.0f} us/req"
    )
    ok = True
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            ok &= run("sqlite", f"sqlite:///{tmp}/bench.db", args, bare)
    if args.only in (None, "postgresql"):
        name = f"nl_clicks_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            print(f"postgresql skipped: {exc}")
        else:
            try:
                ok &= run("postgresql", f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", args, bare)
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sys.exit(0 if ok else 1)  # a lost click fails the run; a slow one is only reported


if __name__ == "__main__":
    main()
