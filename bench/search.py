"""Benchmark: the console's subscriber search over 1,000,000 people, SQLite and PostgreSQL.

Fills a fresh database (real migrations) with generated people, then times
``subscribers.people.search`` as the console calls it (first 51 matches) for a common word,
an accented name typed without its accent, a rare match, a miss and a few harder shapes
(a whole address, a three-letter miss, a two-letter query), printing the median of
several runs in milliseconds and the machine's load. Target: under 200 ms on PostgreSQL
for every query.

    python -m bench.search [--rows 1000000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import insert

import newsletter.models  # noqa: F401  (every table on the metadata)
from newsletter import database
from subscribers import folding, people
from subscribers.models import Subscriber

PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gareth", "Hiroshi", "Inès", "Jan"]
QUERIES = {
    "common word": "gareth",
    "accent typed plain": "chloe",
    "accent typed": "CHLOÉ",
    "rare match": "person765432",
    "whole address": "bob.765431@example.org",
    "no match": "zz-nobody-zz",
    "3-letter miss": "qzx",
    "2 letters": "in",
    "2-letter miss": "zq",
}


def fill(url: str, rows: int) -> None:
    engine = database.open_database(url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for i in range(rows):
            first = FIRST[i % len(FIRST)]  # each name on a tenth of the people
            email = f"{folding.fold(first)}.{i}@example.org"
            name = f"{first} Person{i}"
            batch.append(
                {
                    "email": email,
                    "email_key": email,
                    "name": name,
                    "search_key": folding.key(email, name),
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
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a large write: statistics for the planner, and
        # the GIN index's pending list (rows inserted but not yet merged) merged in.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE subscribers")
    engine.dispose()


def measure(url: str, repeat: int = 5) -> dict[str, tuple[float, int]]:
    engine = database.make_engine(url)
    factory = database.session_factory(engine)
    figures = {}
    for label, text in QUERIES.items():
        times, found = [], 0
        for _ in range(repeat):
            with factory() as session:
                started = time.perf_counter()
                found = len(people.search(session, text=text, limit=51))
                times.append((time.perf_counter() - started) * 1000)
        figures[label] = (statistics.median(times), found)
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
                for label, (ms, found) in measure(url).items():
                    query = repr(QUERIES[label])
                    print(
                        f"{backend}: {label:<18} {query:<26} {ms:8.1f} ms "
                        f"(median of 5; {found} found)"
                    )
                print(f"{backend}: load {os.getloadavg()[0]:.2f}")
            finally:
                if drop:
                    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


if __name__ == "__main__":
    main()
