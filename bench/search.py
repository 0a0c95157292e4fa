"""Benchmark: the console's subscriber search over 1,000,000 people, SQLite and PostgreSQL.

Fills a fresh database (real migrations) with generated people, then times
``subscribers.people.search`` as the console calls it (first 51 matches) for a rare match,
a common one, a name with an accent and a miss, printing the median of several runs in
milliseconds. Target: under 200 ms on PostgreSQL.

    python -m bench.search [--rows 1000000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import insert

from newsletter import database
from subscribers import people
from subscribers.models import Subscriber

PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gareth", "Hiroshi", "Inès", "Jan"]
QUERIES = {
    "one person": "person765432",
    "common word": "gareth",
    "accented name": "chloé",
    "no match": "zz-nobody-zz",
}


def fill(url: str, rows: int) -> None:
    engine = database.open_database(url)
    rng = random.Random(1)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for i in range(rows):
            first = rng.choice(FIRST)
            email = f"{first.lower()}.{i}@example.org"
            batch.append(
                {
                    "email": email,
                    "email_key": email,
                    "name": f"{first} Person{i}",
                    "language": "en",
                    "status": "active",
                    "source": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(batch) == 20_000:
                conn.execute(insert(Subscriber), batch)
                batch.clear()
        if batch:
            conn.execute(insert(Subscriber), batch)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE subscribers")
    engine.dispose()


def measure(url: str, repeat: int = 5) -> dict[str, float]:
    engine = database.make_engine(url)
    factory = database.session_factory(engine)
    figures = {}
    for label, text in QUERIES.items():
        times = []
        for _ in range(repeat):
            with factory() as session:
                started = time.perf_counter()
                people.search(session, text=text, limit=51)
                times.append((time.perf_counter() - started) * 1000)
        figures[label] = statistics.median(times)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"search over {args.rows:,} people; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
    for backend in ("sqlite", "postgresql"):
        if args.only and args.only != backend:
            continue
        with tempfile.TemporaryDirectory() as folder:
            if backend == "sqlite":
                url, drop = f"sqlite:///{Path(folder) / 'search.db'}", None
            else:
                name = f"nl_bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                url, drop = (
                    f"postgresql+psycopg://{PG_ADMIN.split('://')[1].rsplit('/', 1)[0]}/{name}",
                    name,
                )
            try:
                started = time.perf_counter()
                fill(url, args.rows)
                print(f"{backend}: filled in {time.perf_counter() - started:.0f} s")
                for label, ms in measure(url).items():
                    print(f"{backend}: {label:<14} {ms:8.1f} ms (median of 5)")
            finally:
                if drop:
                    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


if __name__ == "__main__":
    main()
