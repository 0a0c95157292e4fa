"""End-to-end campaign send: the example digest, personalised and DKIM-signed, to N
generated subscribers through Postfix's ``smtp-sink``, with the database ledger.

The sink keeps every message it accepts (``smtp-sink -d``, one file each), and each
run's files are counted against the rows the ledger marked sent. Two figures: the worker
alone (``newsletter worker --once`` on a scheduled campaign, from the campaign's start to
its finish) and the whole ``newsletter campaign send ID`` command as a user runs it, from
process start to exit. In the same run Postfix's own ``smtp-source`` pushes the same
number of messages of the same size over the same number of connections into the same
sink, the ceiling for this machine. Each runs as its own process, so its peak memory is
measured alone; a smaller list is sent first to show that memory does not grow with the
list size.

Run: ``.venv/bin/python -m bench.send [N] [--database sqlite|postgresql|URL]
[--workers W] [--connections C]`` (default: 50,000 recipients, SQLite, one worker with
four SMTP connections; ``--database postgresql --workers 2`` shares the campaign
between two worker processes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database, wiring
from newsletter.campaigns import manager
from newsletter.campaigns.models import Campaign, CampaignRecipient
from newsletter.mail.dkim import generate_rsa
from subscribers.models import MailingList, Subscriber, Subscription
from subscribers.orm import Base, utcnow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "briefings" / "112-foreign-ministers.md"
SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
BATCH = 500


def rsa_sign_ms(pem: bytes, rounds: int = 200) -> float:
    """One RSA-2048 signature now: how busy this machine is (about 0.25 ms on an idle core)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("not an RSA key")
    started = time.process_time()
    for i in range(rounds):
        key.sign(str(i).encode(), padding.PKCS1v15(), hashes.SHA256())
    return (time.process_time() - started) / rounds * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"smtp-sink did not start on port {port}")


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def generate(engine: Engine, count: int) -> None:
    """``count`` active subscribers of one list, inserted in chunks."""
    now = utcnow()
    with engine.begin() as conn:
        list_id = conn.scalar(
            insert(MailingList)
            .values(slug="all-briefings", name="All briefings", description="", archived=False,
                    created_at=now)
            .returning(MailingList.id)
        )  # fmt: skip
    chunk = 10_000
    for start in range(0, count, chunk):
        people = [
            {"email": f"reader{i}@bench.example.net", "email_key": f"reader{i}@bench.example.net",
             "name": f"Reader {i}", "language": "en", "status": "active", "source": "bench",
             "created_at": now, "updated_at": now}
            for i in range(start, min(count, start + chunk))
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(Subscriber), people)
    with engine.begin() as conn:
        ids = list(conn.scalars(select(Subscriber.id)))
    for start in range(0, len(ids), chunk):
        rows = [
            {"subscriber_id": sid, "list_id": list_id, "subscribed": True, "updated_at": now}
            for sid in ids[start : start + chunk]
        ]
        with engine.begin() as conn:
            conn.execute(insert(Subscription), rows)


def database_url(choice: str, work: Path) -> tuple[str, Callable[[], None] | None]:
    """The URL to benchmark, and how to drop a temporary PostgreSQL database afterwards."""
    if choice == "sqlite":
        return f"sqlite:///{work / 'bench.db'}", None
    if choice != "postgresql":
        return choice, None
    import psycopg

    admin = os.environ.get("NEWSLETTER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"bench_send_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{admin.rsplit('/', 1)[0]}/{name}", drop


def new_campaign(sessions: sessionmaker[Session], *, scheduled: bool = True) -> int:
    source = EXAMPLE.read_text(encoding="utf-8")
    with database.transaction(sessions) as session:
        campaign = manager.create(
            session,
            briefing_path=EXAMPLE,
            source_text=source,
            slug="112-foreign-ministers",
            subject="Briefing 112: Foreign ministers",
            list_ref="All briefings",
        )
        if scheduled:
            manager.schedule(session, campaign.id, override=True)
        return campaign.id


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (from /proc; Linux only)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _memory_kb(pids: list[int]) -> tuple[int, int]:
    """(summed RSS, summed PSS) of ``pids`` in kB; PSS shares common pages out fairly."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    wall: float  # seconds, process start to exit
    cpu: float  # CPU seconds of every worker process and its helpers (sampled 5 times a second)
    helpers_cpu: float  # of which the helper processes (composing and signing)
    rss_mb: int  # peak of the summed RSS of all worker processes (shared pages counted twice)
    pss_mb: int  # peak of the summed PSS (shared pages divided between processes)


def run_workers(
    env: dict[str, str],
    processes: int,
    profile: str | None = None,
    command: list[str] | None = None,
) -> Run:
    """Run ``processes`` ``newsletter worker --once`` (or ``command``), sampling their
    memory as they go."""
    started = time.perf_counter()
    newsletter = str(Path(sys.executable).parent / "newsletter")  # the installed command
    command = command or [newsletter, "worker", "--once", "--batch", str(BATCH)]
    if profile:
        spy = str(Path(sys.executable).parent / "py-spy")
        command = [
            spy,
            "record",
            "--subprocesses",
            "--format",
            "raw",
            "-o",
            profile,
            "--",
            *command,
        ]
    children = [
        subprocess.Popen(
            command,
            env=env,
            cwd=env["BENCH_DIR"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    peak = [0, 0]
    helpers: dict[int, float] = {}  # last CPU seconds seen of each helper process
    roots: dict[int, float] = {}  # and of each worker process itself
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            pids = [pid for child in children for pid in _tree(child.pid)]
            rss, pss = _memory_kb(pids)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            for pid in set(pids):
                with contextlib.suppress(OSError):
                    seen = roots if pid in {c.pid for c in children} else helpers
                    seen[pid] = cpu_seconds(pid)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu = 0.0
    for child in children:
        # Its own CPU time: the helpers come from a fork server, not from it, so they are
        # not among the children it waited for (they are sampled above instead).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            error = child.stderr.read().decode() if child.stderr else ""
            raise SystemExit(f"worker failed:\n{error}")
        cpu += max(
            usage.ru_utime + usage.ru_stime - sum(helpers.values()), roots.get(child.pid, 0.0)
        )
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    helpers_cpu = sum(helpers.values())
    return Run(wall, cpu + helpers_cpu, helpers_cpu, peak[0] // 1024, peak[1] // 1024)


def check_kept(kept: Path, sent: int) -> None:
    """Every message the run sent is a file the sink kept; then make room for the next run."""
    files = [path for path in kept.rglob("*") if path.is_file()]
    if len(files) != sent:
        raise SystemExit(f"the sink kept {len(files):,} messages of {sent:,} sent")
    for path in files:
        path.unlink()


def send_rate(sessions: sessionmaker[Session], campaign_id: int) -> tuple[int, float]:
    """(rows sent, seconds from the start to the finish of the campaign)."""
    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        if campaign.started_at is None or campaign.finished_at is None:
            raise RuntimeError(f"campaign {campaign_id} did not run to its end")
        sent = (
            session.query(CampaignRecipient)
            .filter_by(campaign_id=campaign_id, state="sent")
            .count()
        )
        seconds = (campaign.finished_at - campaign.started_at).total_seconds()
    return sent, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=50_000)
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a temporary file), postgresql (a temporary database on "
        "NEWSLETTER_BENCH_PG, default the local server), or a database URL",
    )
    parser.add_argument("--small", type=int, default=10_000, help="the first, smaller list")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per worker")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL)")
    parser.add_argument(
        "--processes",
        type=int,
        default=-1,
        help="helper processes composing and signing per worker "
        "(-1: one per core but one, at least one; 0: none)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="times to send the large list")
    parser.add_argument(
        "--profile", metavar="FILE", help="record the worker with py-spy (collapsed stacks)"
    )
    args = parser.parse_args()
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        raise SystemExit("needs Postfix's smtp-sink and smtp-source (Debian package postfix)")

    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    url, drop = database_url(args.database, work)
    key_pem, _ = generate_rsa(2048)
    (work / "dkim.pem").write_bytes(key_pem)
    port = free_port()
    kept = work / "kept"  # every message the sink accepts, one file each
    kept.mkdir()
    shutil.chown(kept, "nobody")  # the sink drops to nobody: it may pass through work/
    work.chmod(0o711)
    (work / "dkim.pem").chmod(0o600)
    sink = subprocess.Popen(
        [SINK, "-u", "nobody", "-d", f"{kept}/", "-c", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        env = dict(os.environ)
        env.update(
            {
                "BENCH_DIR": str(work),
                "NEWSLETTER_DATABASE_URL": url,
                "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}/?starttls=0&timeout=30",
                "NEWSLETTER_DKIM_SELECTOR": "bench",
                "NEWSLETTER_DKIM_DOMAIN": "example.org",
                "NEWSLETTER_DKIM_KEY_FILE": str(work / "dkim.pem"),
                "NEWSLETTER_SECRET_KEY": "bench-secret-key-0123456789-long-enough-for-public",
                "NEWSLETTER_SENDER_ADDRESS": "briefings@example.org",
                "NEWSLETTER_PUBLIC_BASE_URL": "https://news.example.org",
                "NEWSLETTER_SEND_RATE": "0",
                "NEWSLETTER_SMTP_CONNECTIONS": str(args.connections),
                "NEWSLETTER_SEND_PROCESSES": str(args.processes),
            }
        )
        engine = database.open_database(url)
        sessions = database.session_factory(engine)
        backend = engine.dialect.name
        load = os.getloadavg()
        print(
            f"database: {backend}; {args.workers} worker(s), batch {BATCH}, "
            f"{args.connections} SMTP connection(s) and {args.processes} helper process(es) "
            f"each (-1: one per core but one); DKIM RSA-2048; {os.cpu_count()} CPUs, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start"
        )
        print(f"  one RSA-2048 signature takes {rsa_sign_ms(key_pem):.2f} ms of CPU right now")

        rates: list[float] = []  # the worker alone, campaign start to finish
        commands: list[float] = []  # `campaign send` as run, process start to exit
        ceilings: list[float] = []
        memory: list[tuple[int, Run]] = []
        command_memory: list[Run] = []
        newsletter = str(Path(sys.executable).parent / "newsletter")
        for count in [args.small] + [args.count] * max(1, args.rounds):
            for mode in ("worker", "command") if count == args.count else ("worker",):
                reset(engine)
                generate(engine, count)
                campaign_id = new_campaign(sessions, scheduled=mode == "worker")
                # --force: the example keeps placeholder links (the worker's round
                # schedules with the same override).
                command = [newsletter, "campaign", "send", str(campaign_id), "--force"]
                command += ["--batch", str(BATCH)]
                sink_cpu = cpu_seconds(sink.pid)
                run = run_workers(
                    env,
                    args.workers if mode == "worker" else 1,
                    args.profile,
                    command if mode == "command" else None,
                )
                sink_cpu = cpu_seconds(sink.pid) - sink_cpu
                sent, seconds = send_rate(sessions, campaign_id)
                check_kept(kept, sent)
                if mode == "command":
                    commands.append(sent / run.wall)
                    command_memory.append(run)
                    print(
                        f"  {count:>7,} recipients, `newsletter campaign send` as run: "
                        f"{sent / run.wall:,.0f} msg/s ({run.wall:.1f} s from process start to "
                        f"exit, {sent:,} messages kept by the sink); peak memory of the command "
                        f"and its helpers {run.rss_mb} MB RSS, {run.pss_mb} MB PSS; load "
                        f"average now {os.getloadavg()[0]:.2f}"
                    )
                    continue
                if count == args.count:
                    rates.append(sent / seconds)
                    # What this CPU cost per message would allow if every core were ours.
                    ceilings.append((os.cpu_count() or 1) * sent / (run.cpu + sink_cpu))
                memory.append((count, run))
                print(
                    f"  {count:>7,} recipients, worker alone: {sent / seconds:,.0f} msg/s "
                    f"({seconds:.1f} s send, {run.wall:.1f} s with process start); CPU per "
                    f"message {(run.cpu - run.helpers_cpu) / sent * 1000:.2f} ms sending "
                    f"process + {run.helpers_cpu / sent * 1000:.2f} ms helpers + "
                    f"{sink_cpu / sent * 1000:.2f} ms smtp-sink; peak memory of all worker "
                    f"processes {run.rss_mb} MB RSS, {run.pss_mb} MB PSS; load average now "
                    f"{os.getloadavg()[0]:.2f}"
                )

        size = message_size(env, sessions)
        count = args.count
        total_conns = args.connections * args.workers
        source_rates = []
        for _ in range(max(1, args.rounds)):
            t0 = time.perf_counter()
            subprocess.run(
                [SOURCE, "-c", "-l", str(size), "-m", str(count), "-s", str(total_conns),
                 f"127.0.0.1:{port}"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            source_rates.append(count / (time.perf_counter() - t0))
            check_kept(kept, count)
            print(
                f"  smtp-source: {count:,} messages of {size:,} bytes, {total_conns} "
                f"connection(s), every one kept by the sink: {source_rates[-1]:,.0f} msg/s"
            )
        best = max(source_rates)
        print(
            f"smtp-source {min(source_rates):,.0f}-{best:,.0f} msg/s; worker alone "
            f"{min(rates):,.0f}-{max(rates):,.0f} msg/s ({max(rates) / best:.2f}x smtp-source); "
            f"`campaign send` as run {min(commands):,.0f}-{max(commands):,.0f} msg/s "
            f"({max(commands) / best:.2f}x smtp-source); best runs compared; load average at "
            f"the end {os.getloadavg()[0]:.2f}"
        )
        print(
            f"CPU-bound ceiling on {os.cpu_count()} idle cores (worker + smtp-sink CPU per "
            f"message, start-up included): {min(ceilings):,.0f}-{max(ceilings):,.0f} msg/s"
        )
        (small, first), (large, last) = memory[0], memory[-1]
        print(
            f"worker peak memory (all processes, PSS): {first.pss_mb} MB for {small:,}, "
            f"{last.pss_mb} MB for {large:,}; `campaign send` (all processes): "
            f"{max(r.rss_mb for r in command_memory)} MB RSS, "
            f"{max(r.pss_mb for r in command_memory)} MB PSS at most"
        )
        engine.dispose()
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
        if drop:
            drop()


def message_size(env: dict[str, str], sessions: sessionmaker[Session]) -> int:
    """The size of one real message of the campaign just sent (built as the worker does)."""
    from newsletter.campaigns import composer
    from newsletter.campaigns.ledger import Claimed
    from newsletter.config import Settings

    values: dict[str, Any] = {
        k.removeprefix("NEWSLETTER_").lower(): v
        for k, v in env.items()
        if k.startswith("NEWSLETTER_")
    }
    settings = Settings(_env_file=None, **values)
    with sessions() as session:
        campaign_id = max(c.id for c in manager.all_campaigns(session))
    made = composer.for_campaign(settings, sessions, campaign_id, wiring.signer(settings))
    envelope = made.compose(Claimed(0, 1, "reader1@bench.example.net", "Reader 1", 1))
    return len(envelope.message)


if __name__ == "__main__":
    main()
