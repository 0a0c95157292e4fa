"""End-to-end campaign send: the example digest, personalised and DKIM-signed, to N
generated subscribers through Postfix's ``smtp-sink``, with the database ledger.

In the same run Postfix's own ``smtp-source`` pushes the same number of messages of
the same size over the same number of connections, the ceiling for this machine and
this sink. The worker runs as its own process (``newsletter worker --once``), so its
peak memory (max RSS) is measured alone; a smaller list is sent first to show that
memory does not grow with the list size.

Run: ``.venv/bin/python -m bench.send [N] [--database sqlite|postgresql|URL]
[--workers W] [--connections C]`` (default: 50,000 recipients, SQLite, one worker with
four SMTP connections; ``--database postgresql --workers 2`` shares the campaign
between two worker processes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
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
    assert isinstance(key, rsa.RSAPrivateKey)
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


def new_campaign(sessions: sessionmaker[Session]) -> int:
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
        manager.schedule(session, campaign.id, override=True)
        return campaign.id


def run_workers(env: dict[str, str], processes: int) -> tuple[float, int]:
    """(wall seconds, largest peak RSS in MB) of ``processes`` ``newsletter worker --once``."""
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "newsletter", "worker", "--once", "--batch", str(BATCH)],
            env=env,
            cwd=env["BENCH_DIR"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    peak_kb = 0
    for child in children:
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            error = child.stderr.read().decode() if child.stderr else ""
            raise SystemExit(f"worker failed:\n{error}")
        peak_kb = max(peak_kb, usage.ru_maxrss)
    return time.perf_counter() - started, peak_kb // 1024


def send_rate(sessions: sessionmaker[Session], campaign_id: int) -> tuple[int, float]:
    """(rows sent, seconds from the start to the finish of the campaign)."""
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.started_at and campaign.finished_at
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
    args = parser.parse_args()
    if not (Path(SINK).exists() and Path(SOURCE).exists()):
        raise SystemExit("needs Postfix's smtp-sink and smtp-source (Debian package postfix)")

    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    url, drop = database_url(args.database, work)
    key_pem, _ = generate_rsa(2048)
    (work / "dkim.pem").write_bytes(key_pem)
    port = free_port()
    sink = subprocess.Popen(
        [SINK, "-u", "nobody", "-c", f"127.0.0.1:{port}", "1000"],
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
                "NEWSLETTER_SECRET_KEY": "bench-secret-key-0123456789",
                "NEWSLETTER_SENDER_ADDRESS": "briefings@example.org",
                "NEWSLETTER_PUBLIC_BASE_URL": "https://news.example.org",
                "NEWSLETTER_SEND_RATE": "0",
                "NEWSLETTER_SMTP_CONNECTIONS": str(args.connections),
            }
        )
        engine = database.open_database(url)
        sessions = database.session_factory(engine)
        backend = engine.dialect.name
        print(
            f"database: {backend}; {args.workers} worker(s), batch {BATCH}, "
            f"{args.connections} SMTP connection(s) each; "
            f"DKIM RSA-2048; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"  one RSA-2048 signature takes {rsa_sign_ms(key_pem):.2f} ms of CPU right now")

        results = []
        for count in (args.small, args.count):
            reset(engine)
            t0 = time.perf_counter()
            generate(engine, count)
            print(f"  generated {count:,} subscribers in {time.perf_counter() - t0:.1f} s")
            campaign_id = new_campaign(sessions)
            wall, peak_mb = run_workers(env, args.workers)
            sent, seconds = send_rate(sessions, campaign_id)
            rate = sent / seconds
            results.append((count, rate, peak_mb))
            print(
                f"  {count:>7,} recipients: {rate:,.0f} msg/s end to end "
                f"({seconds:.1f} s send, {wall:.1f} s with process start), "
                f"peak RSS per worker {peak_mb} MB"
            )

        size = message_size(env, sessions)
        count = args.count
        t0 = time.perf_counter()
        subprocess.run(
            [
                SOURCE,
                "-c",
                "-l",
                str(size),
                "-m",
                str(count),
                "-s",
                str(args.connections * args.workers),
                f"127.0.0.1:{port}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        source_rate = count / (time.perf_counter() - t0)
        ours = results[-1][1]
        total_conns = args.connections * args.workers
        print(
            f"  smtp-source: {count:,} messages of {size:,} bytes, {total_conns} "
            f"connection(s): {source_rate:,.0f} msg/s"
        )
        print(f"ratio (ours / smtp-source): {ours / source_rate:.2f}")
        small, large = results[0][2], results[-1][2]
        print(f"worker peak memory: {small} MB for {results[0][0]:,}, {large} MB for {count:,}")
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
    made = composer.for_campaign(settings, sessions, campaign_id)
    envelope = made.compose(Claimed(0, 1, "reader1@bench.example.net", "Reader 1", 1))
    return len(envelope.message)


if __name__ == "__main__":
    main()
