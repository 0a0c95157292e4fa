"""Benchmark: import a generated CSV of 1,000,000 people into SQLite and PostgreSQL.

Two shapes of file: ours (email, name, language, topics, imported with a stated
consent basis) and a Mailchimp export of subscribed contacts (every column of it,
with opt-in and confirmation times and IPs carried into the consent log and about
one person in five tagged).

Prints, per run, rows per second, wall and CPU seconds and the peak memory of the
importing process (VmHWM of a child process, so generation and the parent do not
count), with the CPU count and the load average at the start of the run: on a
shared machine the CPU seconds are the steadier figure (on PostgreSQL they leave
out the server's own work, which is most of it). Target: under 60 s and under
300 MB for each database; 20 s is the stretch goal.

    python bench/import.py [--rows 1000000] [--repeat 2] [--only sqlite|postgresql]
                           [--shape ours|mailchimp]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("NEWSLETTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TOPICS = ["Ukraine", "Nuclear weapons", "Arms control", "NATO enlargement"]
FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gareth", "Hiroshi", "Ines", "Jan"]
DOMAINS = ["example.org", "example.com", "mail.example.net", "Example.ORG", "uni.example.ac.uk"]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """~3% invalid addresses and ~5% duplicates (half of them differing only in case)."""
    rng = random.Random(seed)
    made: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,language,topics\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.03:
                address = rng.choice(["no-at-sign.example.org", f"user{i}@", f"a..b{i}@x.org"])
            elif roll < 0.08 and made:
                address = rng.choice(made[-5000:])
                address = address.upper() if rng.random() < 0.5 else address
            else:
                first = rng.choice(FIRST).lower()
                first = first if rng.random() < 0.01 else first.replace("é", "e")
                address = f"{first}.{i}@{rng.choice(DOMAINS)}"
                made.append(address)
            topics = ";".join(rng.sample(TOPICS, rng.randint(0, 2)))
            name = f"{rng.choice(FIRST)} Person{i}"
            out.write(f'{address},"{name}",en,{topics}\n')


MAILCHIMP_HEADER = (
    '"Email Address","First Name","Last Name","Topics of interest","MEMBER_RATING",'
    '"OPTIN_TIME","OPTIN_IP","CONFIRM_TIME","CONFIRM_IP","LATITUDE","LONGITUDE","GMTOFF",'
    '"DSTOFF","TIMEZONE","CC","REGION","LAST_CHANGED","LEID","EUID","NOTES","TAGS"\n'
)
TAGS = ['"""Donor"""', '"""Donor"",""Board"""', '"""Press"""', '"""Volunteer"""']


def generate_mailchimp(path: Path, rows: int, seed: int = 1) -> None:
    """Mailchimp's subscribed export: its addresses are valid and unique already."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(MAILCHIMP_HEADER)
        for i in range(rows):
            first = rng.choice(FIRST)
            address = f"{first.lower().replace('é', 'e')}.{i}@{rng.choice(DOMAINS)}"
            day = f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            ip = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            optin = (
                f'"{day} 10:{rng.randint(0, 59):02d}:00","{ip}"' if rng.random() < 0.7 else '"",""'
            )
            tags = rng.choice(TAGS) if rng.random() < 0.2 else '""'
            groups = ", ".join(rng.sample(TOPICS, rng.randint(0, 2)))
            out.write(
                f'"{address}","{first}","Person{i}","{groups}","{rng.randint(1, 5)}",{optin},'
                f'"{day} 11:00:00","{ip}","51.5","-0.12","0","1","Europe/London","GB","ENG",'
                f'"2024-05-02 08:00:00","{100000000 + i}","{i:010x}","",{tags}\n'
            )


def child(url: str, csv_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import newsletter.models  # noqa: F401  (every table, in an order free of import cycles)
    from newsletter import database
    from newsletter.cli.tuning import bulk_import
    from subscribers.importer import import_csv

    engine = database.open_database(url)
    sessions = database.session_factory(engine)
    started, cpu_started = time.perf_counter(), time.process_time()
    with bulk_import():  # as the import command runs it
        summary = import_csv(
            sessions,
            csv_path,
            list_name="All briefings",
            consent="Readers who signed up on our website (benchmark data)",
        )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu": cpu,
                "rows": summary.rows,
                "added": summary.added,
                "duplicates": summary.duplicates,
                "skipped": sum(summary.skipped.values()),
                "history": summary.history,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def run(label: str, url: str, csv_path: Path) -> None:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, str(csv_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    rate = r["rows"] / r["seconds"]
    print(
        f"{label:<11} {r['rows']:>9,} rows in {r['seconds']:6.1f} s ({rate:>9,.0f} rows/s; "
        f"importer CPU {r['cpu']:.1f} s), peak {r['peak_mb']:6.1f} MB  "
        f"(added {r['added']:,}, duplicates {r['duplicates']:,}, skipped {r['skipped']:,}, "
        f"consent events carried {r['history']:,}; "
        f"{os.cpu_count()} CPUs, load at start {load})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("URL", "CSV"))
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=1, help="runs per database")
    parser.add_argument("--shape", choices=["ours", "mailchimp"], help="default: both")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for shape in [args.shape] if args.shape else ["ours", "mailchimp"]:
            name = "people.csv" if shape == "ours" else "subscribed_members_export_bench.csv"
            csv_path = Path(tmp) / name
            started = time.perf_counter()
            (generate if shape == "ours" else generate_mailchimp)(csv_path, args.rows)
            size = csv_path.stat().st_size / 1e6
            elapsed = time.perf_counter() - started
            print(f"{shape}: generated {args.rows:,} rows ({size:.0f} MB) in {elapsed:.1f} s")
            for _ in range(args.repeat):
                if args.only != "postgresql":
                    database = Path(tmp) / "bench.db"
                    run("SQLite", f"sqlite:///{database}", csv_path)
                    for leftover in Path(tmp).glob("bench.db*"):
                        leftover.unlink()
                if args.only != "sqlite":
                    postgresql(csv_path)
            csv_path.unlink()


def postgresql(csv_path: Path) -> None:
    """One run into a fresh, throw-away PostgreSQL database."""
    import psycopg

    name = f"nl_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL   skipped: {exc}")
        return
    try:
        base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
        run("PostgreSQL", f"postgresql+psycopg://{base}/{name}", csv_path)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
