"""Webhook throughput: signed Stripe events posted to ``newsletter serve`` on localhost.

Builds one-time gifts (``checkout.session.completed``) and monthly gifts
(``checkout.session.completed`` plus two ``invoice.paid`` instalments) shaped
like Stripe's fixtures, shuffles them (so instalments often arrive before their
checkout), re-sends a share as duplicates, and posts everything from several
threads. Prints events per second and checks the ledger: every gift counted once,
none lost, none doubled. Runs on SQLite and on the machine's PostgreSQL.

    .venv/bin/python bench/webhook.py [--gifts 600] [--duplicates 0.2] [--threads 8]

``--statements`` instead applies the same deliveries in this process, one after the
other, and prints the SQL round trips per event (BEGIN and COMMIT included).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter import database  # noqa: E402
from newsletter.donations.checkout import CheckoutConfig, IntentFacts, session_params  # noqa: E402
from newsletter.donations.models import DonationIntent, Gift, StripeEventRecord  # noqa: E402
from newsletter.donations.receipts.content import Receipt  # noqa: E402
from newsletter.donations.states import Frequency, IntentStatus  # noqa: E402
from newsletter.donations.webhook import WebhookProcessor  # noqa: E402
from tests.donations.fake_stripe import FakeStripe, sign  # noqa: E402

SECRET = "whsec_bench_0123456789"
PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def build_events(
    fake: FakeStripe, gifts: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[IntentFacts], int, int]:
    """Events for ``gifts`` donors; returns (events, the donation forms they come from,
    expected gift rows, expected total)."""
    config = CheckoutConfig("https://news.example.org", "https://news.example.org/donate", "Bench")
    events: list[dict[str, Any]] = []
    forms: list[IntentFacts] = []
    rows = total = 0
    for n in range(gifts):
        monthly = n % 5 < 2  # 40% monthly
        amount = rng.choice([500, 1000, 2500, 5000])
        intent = IntentFacts(
            f"di_bench_{n}",
            amount,
            "gbp",
            Frequency.MONTHLY if monthly else Frequency.ONCE,
            campaign_id=n % 7,
        )
        forms.append(intent)
        created = fake.create_session(_as_form(session_params(intent, config)))
        session = fake.pay(created["id"], email=f"donor{n}@example.org", name=f"Donor {n}")
        events.append(fake.event("checkout.session.completed", session))
        if monthly:
            for reason in ("subscription_create", "subscription_cycle"):
                events.append(fake.event("invoice.paid", fake.invoice(session, reason=reason)))
                rows, total = rows + 1, total + amount
        else:
            rows, total = rows + 1, total + amount
    return events, forms, rows, total


def record_forms(db_url: str, forms: list[IntentFacts]) -> None:
    """The intents POST /donate stored before each Checkout (a session naming no
    intent of ours is another integration's, not a gift)."""
    engine = database.make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(DonationIntent),
            [
                {
                    "public_id": f.public_id,
                    "amount_minor": f.amount_minor,
                    "currency": f.currency,
                    "frequency": f.frequency,
                    "campaign_id": f.campaign_id,
                    "status": IntentStatus.OPEN,
                }
                for f in forms
            ],
        )
    engine.dispose()


def _as_form(params: Any) -> Any:
    """The fake validates form-decoded values (strings), as Stripe receives them."""
    if isinstance(params, dict):
        return {k: _as_form(v) for k, v in params.items()}
    if isinstance(params, list):
        return [_as_form(v) for v in params]
    return str(params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    db_url: str, workdir: Path, workers: int, receipts: bool, stripe_api: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        NEWSLETTER_DATABASE_URL=db_url,
        NEWSLETTER_STRIPE_WEBHOOK_SECRET=SECRET,
        NEWSLETTER_STRIPE_SECRET_KEY="sk_test_bench",
        # An instalment's payment is looked up through the API: the fake answers.
        NEWSLETTER_STRIPE_API_BASE=stripe_api,
        NEWSLETTER_OUTBOX_DIR=str(workdir / "outbox"),
        NEWSLETTER_SECRET_KEY="bench-secret-0123456789",
        NEWSLETTER_SMTP_URL="",
        NEWSLETTER_DONATION_RECEIPTS="true" if receipts else "false",
    )
    database.open_database(db_url).dispose()  # migrate before timing
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "newsletter"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "serve.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a loaded machine takes a while to import and start
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{base}/stripe/webhook", content=b"{}", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"newsletter serve did not start: {(workdir / 'serve.log').read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (uvicorn workers), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        proc = Path(f"/proc/{current}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in (proc / "task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def post_all(base: str, bodies: list[str], threads: int) -> tuple[float, dict[int, int]]:
    """Post every body from ``threads`` keep-alive connections (light client: http.client)."""
    host, port = base.removeprefix("http://").split(":")
    local = threading.local()

    def post(body: str) -> int:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Stripe-Signature": sign(body, SECRET), "Content-Type": "application/json"}
        conn.request("POST", "/stripe/webhook", body=body.encode(), headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status

    statuses: dict[int, int] = {}
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for code in pool.map(post, bodies):
            statuses[code] = statuses.get(code, 0) + 1
    return time.perf_counter() - start, statuses


class _Unsent:
    """Receipts claimed (as with receipts on) but not mailed: only the SQL is counted."""

    def send(self, receipt: Receipt) -> None:
        pass


def count_statements(label: str, db_url: str, args: argparse.Namespace) -> bool:
    """Round trips to the database per delivery, by event type (in-process, sequential)."""
    rng = random.Random(7)
    with FakeStripe() as fake:
        events, forms, expected_rows, _ = build_events(fake, args.gifts, rng)
    deliveries = events + rng.sample(events, int(len(events) * args.duplicates))
    rng.shuffle(deliveries)
    engine = database.open_database(db_url)
    record_forms(db_url, forms)
    seen = {e["id"] for e in events}
    counts: dict[str, list[int]] = {}
    current = [0]

    def one(*_: Any) -> None:
        current[0] += 1

    for name in ("before_cursor_execute", "begin", "commit", "rollback"):
        sa_event.listen(engine, name, one)
    processor = WebhookProcessor(
        database.session_factory(engine), secrets=[SECRET], livemode=False, receipts=_Unsent()
    )
    done: set[str] = set()
    for delivery in deliveries:
        current[0] = 0
        processor.accept(delivery, receipts=False)
        kind = delivery["type"] + (" (duplicate)" if delivery["id"] in done else "")
        done.add(delivery["id"])
        counts.setdefault(kind, []).append(current[0])
    with database.session_factory(engine)() as session:
        rows = session.scalar(select(func.count(Gift.id))) or 0
    engine.dispose()
    total = sum(sum(c) for c in counts.values())
    by_kind = ", ".join(f"{k} {sum(c) / len(c):.2f}" for k, c in sorted(counts.items()))
    print(
        f"{label:10} {total / len(deliveries):.2f} statements per delivery "
        f"({total} for {len(deliveries)}) | {by_kind} | gifts {rows}/{expected_rows}"
    )
    return rows == expected_rows and done == seen


def run(label: str, db_url: str, args: argparse.Namespace) -> bool:
    if args.statements:
        return count_statements(label, db_url, args)
    rng = random.Random(7)
    with FakeStripe() as fake, tempfile.TemporaryDirectory() as tmp:
        events, forms, expected_rows, expected_total = build_events(fake, args.gifts, rng)
        deliveries = events + rng.sample(events, int(len(events) * args.duplicates))
        rng.shuffle(deliveries)
        bodies = [json.dumps(e) for e in deliveries]
        proc, base = serve(db_url, Path(tmp), args.workers, args.receipts, fake.url)
        record_forms(db_url, forms)
        try:
            cpu_before = cpu_seconds(proc.pid)
            elapsed, statuses = post_all(base, bodies, args.threads)
            cpu = cpu_seconds(proc.pid) - cpu_before
        finally:
            stopping = time.perf_counter()
            proc.terminate()  # graceful: the server sends receipts still queued, then exits
            proc.wait(60)
            drain = time.perf_counter() - stopping
        engine = database.make_engine(db_url)
        with database.session_factory(engine)() as session:
            rows = session.scalar(select(func.count(Gift.id))) or 0
            total = session.scalar(select(func.sum(Gift.amount_minor))) or 0
            stored = session.scalar(select(func.count(StripeEventRecord.id))) or 0
            receipts = (
                session.scalar(select(func.count(Gift.id)).where(Gift.receipt_sent_at.is_not(None)))
                or 0
            )
        engine.dispose()
        outbox = Path(tmp) / "outbox"
        mailed = sum(1 for f in outbox.glob("*/*") if f.parent.name in ("new", "cur"))
    lost = max(0, expected_rows - rows)
    doubled = max(0, rows - expected_rows)
    rate = len(bodies) / elapsed
    print(
        f"{label:10} {len(bodies):5} deliveries ({len(bodies) - len(events)} duplicates) in "
        f"{elapsed:6.2f} s = {rate:7.1f} events/s ({len(bodies) / (elapsed + drain):.1f} counting "
        f"the receipts drained at shutdown) | statuses {statuses} | "
        f"gifts {rows}/{expected_rows} lost {lost} doubled {doubled} | "
        f"server CPU {cpu * 1000 / len(bodies):.2f} ms/event | shutdown {drain:.1f} s | "
        f"total {total}/{expected_total} | events stored {stored}/"
        f"{len(events)} | receipts marked sent {receipts}, in the outbox {mailed}"
    )
    return (
        receipts == mailed == (expected_rows if args.receipts else 0)
        and lost == 0
        and doubled == 0
        and total == expected_total
        and stored == len(events)
        and statuses == {200: len(bodies)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gifts", type=int, default=600)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="newsletter serve --workers")
    parser.add_argument(
        "--receipts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="email a receipt per gift (Maildir outbox), as a real deployment does",
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--statements",
        action="store_true",
        help="count the SQL round trips per event (in-process, one at a time) instead",
    )
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"bench/webhook.py on {os.cpu_count()} CPU(s), load average {load} at start, "
        f"python {sys.version.split()[0]}, newsletter serve --workers {args.workers}"
    )
    ok = True
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            ok &= run("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.only in (None, "postgresql"):
        name = f"nl_bench_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            print(f"postgresql skipped: {exc}")
        else:
            try:
                ok &= run("postgresql", f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", args)
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
