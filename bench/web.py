"""Web throughput: ``newsletter serve`` pages beside a bare Starlette app, in one run.

Starts a bare Starlette app (one plain-text route) and ``newsletter serve`` on the same
uvicorn settings (one process, no access log), then loads each with ``wrk`` (Debian's;
``make bench`` installs it), or with an async httpx client when wrk is missing:
``/subscribe``, ``/donate``, ``/``, a published archive page (and the same page asked
again with its ``ETag``, answered 304) and one-click unsubscribe POSTs (every request a
different reader, so each one is a real unsubscribe; the run checks they were all
stored). Prints requests per second, p99 latency and the share of the bare app's rate.
Runs on SQLite and, when reachable, the machine's PostgreSQL.

    .venv/bin/python -m bench.web [--seconds 5] [--connections 32] [--readers 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import func, insert, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import database, links, tokens  # noqa: E402
from newsletter.briefing import markdown  # noqa: E402
from newsletter.campaigns import archive  # noqa: E402
from newsletter.config import Settings  # noqa: E402
from newsletter.digest import render_digest  # noqa: E402
from subscribers.models import Status, Subscriber  # noqa: E402

SECRET = "bench-web-secret-0123456789-0123456789"
PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
EXAMPLE = ROOT / "examples" / "briefings" / "112-foreign-ministers.md"


async def _hello(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


bare = Starlette(routes=[Route("/", _hello)])  # what uvicorn and Starlette cost by themselves


@dataclass
class Figure:
    name: str
    rate: float
    p99_ms: float
    errors: int
    count: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(base + "/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text(errors='replace')[-2000:]}")


def start_bare(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = workdir / "bare.log"
    command = [sys.executable, "-m", "uvicorn", "bench.web:bare", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    base = f"http://127.0.0.1:{port}"
    _wait(base, proc, log)
    return proc, base


def start_app(db_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Settings]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        NEWSLETTER_DATABASE_URL=db_url,
        NEWSLETTER_PUBLIC_BASE_URL=base,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_OUTBOX_DIR=str(workdir / "outbox"),
        NEWSLETTER_SMTP_URL="",
    )
    settings = Settings(
        _env_file=None,
        database_url=db_url,
        public_base_url=base,
        secret_key=SECRET,
    )
    log = workdir / "serve.log"
    command = [str(ROOT / ".venv" / "bin" / "newsletter"), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )
    _wait(base, proc, log)
    return proc, base, settings


def seed(settings: Settings, readers: int) -> tuple[str, str, list[int]]:
    """A published archive page and ``readers`` active people; (page path, its ETag, their ids)."""
    briefing = markdown.load(EXAMPLE)
    digest = render_digest(briefing, settings)
    page = archive.page_for(briefing, digest)
    engine = database.open_database(settings.database_url)
    with database.transaction(database.session_factory(engine)) as session:
        archive.publish(session, page)
    with engine.begin() as conn:
        conn.execute(
            insert(Subscriber),
            [
                {
                    "email": f"reader{i}@example.org",
                    "email_key": f"reader{i}@example.org",
                    "name": "",
                    "language": "en",
                    "status": Status.ACTIVE,
                    "source": "bench",
                }
                for i in range(readers)
            ],
        )
        ids = list(conn.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    engine.dispose()
    return f"/archive/{digest.slug}", page.etag, ids


def unsubscribed(db_url: str) -> int:
    engine = database.make_engine(db_url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).where(Subscriber.status == Status.UNSUBSCRIBED))
    engine.dispose()
    return int(count or 0)


_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", re.MULTILINE)
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_TOTAL = re.compile(r"(\d+) requests in")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def run_wrk(
    name: str,
    url: str,
    args: argparse.Namespace,
    script: Path | None,
    headers: dict[str, str] | None = None,
) -> Figure:
    command = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    for header, value in (headers or {}).items():
        command[1:1] = ["-H", f"{header}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate, p99, bad = _RATE.search(out), _P99.search(out), _ERRORS.search(out)
    total, sockets = _TOTAL.search(out), _SOCKET.search(out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    count = int(total.group(1)) if total else 0
    return Figure(name, float(rate.group(1)) if rate else 0.0, p99_ms, errors, count)


def run_httpx(
    name: str,
    base: str,
    paths: list[str],
    post: bool,
    args: argparse.Namespace,
    headers: dict[str, str] | None = None,
) -> Figure:
    """The fallback load: ``connections`` async clients for ``seconds``."""
    latencies: list[float] = []
    errors = 0

    async def main() -> None:
        nonlocal errors
        stop = time.monotonic() + args.seconds
        counter = iter(range(10**9))
        limits = httpx.Limits(max_connections=args.connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

            async def one() -> None:
                nonlocal errors
                while time.monotonic() < stop:
                    path = paths[next(counter) % len(paths)]
                    began = time.perf_counter()
                    if post:
                        answer = await client.post(path, data={"List-Unsubscribe": "One-Click"})
                    else:
                        answer = await client.get(path, headers=headers)
                    latencies.append(time.perf_counter() - began)
                    errors += answer.status_code >= 400

            await asyncio.gather(*(one() for _ in range(args.connections)))

    began = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - began
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    return Figure(name, len(latencies) / elapsed, p99, errors, len(latencies))


def one_click_script(workdir: Path, paths: list[str]) -> Path:
    """A wrk script posting one-click unsubscribes, a different reader each request
    (each wrk thread has its own Lua state: each starts at its own share of the list)."""
    script = workdir / "one-click.lua"
    listed = ",\n".join(f'"{p}"' for p in paths)
    script.write_text(
        f"paths = {{\n{listed}\n}}\n"
        "threads = 0\n"
        "function setup(thread)\n"
        '  thread:set("offset", threads)\n'
        "  threads = threads + 1\n"
        "end\n"
        "function init(args)\n"
        "  i = (offset or 0) * math.floor(#paths / 2)\n"
        "end\n"
        'wrk.method = "POST"\n'
        'wrk.body = "List-Unsubscribe=One-Click"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        "request = function()\n"
        "  i = i % #paths + 1\n"
        "  return wrk.format(nil, paths[i])\n"
        "end\n",
        encoding="utf-8",
    )
    return script


def measure(db_label: str, db_url: str, args: argparse.Namespace, use_wrk: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        workdir = Path(tmp)
        bare_proc, bare_base = start_bare(workdir)
        database.open_database(db_url).dispose()
        app_proc, base, settings = start_app(db_url, workdir)
        try:
            archive, etag, ids = seed(settings, args.readers)
            posts = [
                "/u/" + tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": sid, "c": 1})
                for sid in ids
            ]
            cached = {"If-None-Match": etag}
            pages: list[tuple[str, str, str, dict[str, str] | None]] = [
                ("bare Starlette /", bare_base, "/", None),
                ("/subscribe", base, "/subscribe", None),
                ("/donate", base, "/donate", None),
                ("/", base, "/", None),
                ("archive page", base, archive, None),
                ("archive page 304", base, archive, cached),
            ]
            figures = []
            for name, where, path, headers in pages:
                if use_wrk:
                    figures.append(run_wrk(name, where + path, args, None, headers))
                else:
                    figures.append(run_httpx(name, where, [path], False, args, headers))
            if use_wrk:
                script = one_click_script(workdir, posts)
                figures.append(run_wrk("one-click POST", base + "/", args, script))
            else:
                figures.append(run_httpx("one-click POST", base, posts, True, args))
            stored = unsubscribed(db_url)
        finally:
            for proc in (app_proc, bare_proc):
                proc.terminate()
                proc.wait(30)
    bare_rate = figures[0].rate or 1.0
    print(f"-- {db_label}")
    print(f"{'page':<20} {'req/s':>9} {'p99 ms':>8} {'x bare':>7} {'errors':>7}")
    for fig in figures:
        share = fig.rate / bare_rate
        line = f"{fig.name:<20} {fig.rate:>9.0f} {fig.p99_ms:>8.1f} {share:>7.3f} {fig.errors:>7}"
        print(line)
    posted = figures[-1].count
    print(
        f"one-click: {posted} posts, {stored} readers unsubscribed and stored "
        f"({len(posts)} readers; a post after every reader has left changes nothing)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--readers", type=int, default=20000)
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    tool = "wrk -t2" if use_wrk else "httpx (wrk is not installed)"
    print(
        f"bench/web.py: {tool}, {args.connections} connections, {args.seconds} s a page, "
        f"uvicorn 1 process, {os.cpu_count()} CPU cores, python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-web-db-") as tmp:
        measure("SQLite", f"sqlite:///{tmp}/newsletter.db", args, use_wrk)
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            pass
    except psycopg.Error:
        print("-- PostgreSQL not reachable: skipped")
        return
    name = f"nl_bench_web_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
        measure("PostgreSQL", f"postgresql+psycopg://{base}/{name}", args, use_wrk)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
