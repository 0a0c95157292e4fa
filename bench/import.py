"""Benchmark: import a generated CSV of 1,000,000 people into SQLite and PostgreSQL.

Two shapes of file: ours (email, name, language, topics, imported with a stated
consent basis) and a Mailchimp export of subscribed contacts (every column of it,
with opt-in and confirmation times and IPs carried into the consent log and about
one person in five tagged).

Each run is the ``newsletter subscribers import`` command of this venv, started as
users start it (its own process, on a terminal, so its progress bar is drawn) into a
fresh database whose schema is built first. Prints the command's rows per second,
wall and CPU seconds, peak memory (its maximum resident set), the counts of its
report, and on PostgreSQL the server's CPU seconds for it; with the CPU count and
the load average at the start and end of the run: on a shared machine the CPU
seconds are the steadier figures. Target: under 20 s and flat memory (under 300 MB)
for each database. To compare with another checkout, run its venv's Python on the
same file (``--csv``).

    python bench/import.py [--rows 1000000] [--repeat 2] [--only sqlite|postgresql]
                           [--shape ours|mailchimp] [--csv FILE]
"""

from __future__ import annotations

import argparse
import os
import pty
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

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


CONSENT = "Readers who signed up on our website (benchmark data)"
_COUNT = re.compile(  # a row of the report's table: "│ added as active │ 920,252 │"
    r"^\W*(added as \w+|updated|duplicates merged|skipped: [^│|]+?|total rows)\W+([\d,]+)"
)


def command(url: str, csv_path: Path, pg_name: str | None = None) -> dict[str, object]:
    """Run ``newsletter subscribers import`` as users run it: its own process, on a
    terminal (a pty, so the progress bar is drawn), the report printed at the end.

    Its wall and CPU seconds and peak memory come from the kernel (``wait4``); on
    PostgreSQL the server's CPU seconds too, read from /proc for each backend of the
    run's own database while the command runs (the last tenth of a second of each
    may be missed).
    """
    main_fd, terminal = pty.openpty()
    screen = bytearray()
    reader = threading.Thread(target=_drain, args=(main_fd, screen), daemon=True)
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": url, "COLUMNS": "120"}
    newsletter = Path(sys.executable).with_name("newsletter")
    args = ["subscribers", "import", str(csv_path), "--list", "All briefings"]
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(newsletter), *args, "--consent", CONSENT],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        cwd=csv_path.parent,
        env=env,
    )
    os.close(terminal)
    reader.start()
    server: dict[int, float] = {}
    watcher = _ServerWatch(pg_name, server) if pg_name else None
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if watcher is not None:
        watcher.stop()
    reader.join(timeout=5)
    text = screen.decode("utf-8", "replace")
    if status != 0:
        raise SystemExit(f"the import command failed ({status}):\n{text[-3000:]}")
    counts = {}
    for line in text.splitlines():
        found = _COUNT.match(line.strip())
        if found:
            counts[found[1].strip()] = int(found[2].replace(",", ""))
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "server_cpu": sum(server.values()) if pg_name else None,
        "peak_mb": usage.ru_maxrss / 1024,
        "rows": counts.get("total rows", 0),
        "counts": counts,
    }


def _drain(fd: int, into: bytearray) -> None:
    """Read what the command draws on its terminal (else it would block writing)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the command ended: the terminal is gone
            break
        if not chunk:
            break
        into.extend(chunk)
    os.close(fd)


class _ServerWatch:
    """The CPU seconds of every backend serving database ``name``, sampled in a thread."""

    def __init__(self, name: str, seen: dict[int, float]) -> None:
        self.name, self.seen = name, seen
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            while not self._done.wait(0.1):
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.name]
                ).fetchall()
                for (pid,) in pids:
                    try:
                        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:  # ended, or not on this machine
                        continue
                    self.seen[pid] = (int(stat[11]) + int(stat[12])) / tick

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run(label: str, url: str, csv_path: Path, pg_name: str | None = None) -> None:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    r = command(url, csv_path, pg_name)
    rate = r["rows"] / r["seconds"]  # type: ignore[operator]
    server = f", server CPU {r['server_cpu']:.1f} s" if r["server_cpu"] is not None else ""
    counts = ", ".join(f"{name} {n:,}" for name, n in r["counts"].items())  # type: ignore[attr-defined]
    print(
        f"{label:<11} {r['rows']:>9,} rows in {r['seconds']:6.1f} s ({rate:>9,.0f} rows/s; "
        f"command CPU {r['cpu']:.1f} s{server}), peak {r['peak_mb']:6.1f} MB  "
        f"({counts}; {os.cpu_count()} CPUs, load at start {load}, at end "
        f"{' '.join(f'{value:.2f}' for value in os.getloadavg())})",
        flush=True,
    )


def migrated(url: str) -> None:
    """The schema, built before the timed command (a new install migrates only once) by
    the code of this venv, as the command is."""
    import newsletter.models  # noqa: F401  (every table, in an order free of import cycles)
    from newsletter import database

    database.open_database(url).dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=1, help="runs per database")
    parser.add_argument("--shape", choices=["ours", "mailchimp"], help="default: both")
    parser.add_argument("--csv", type=Path, help="import this file instead of generating one")
    args = parser.parse_args()
    if args.csv:
        for _ in range(args.repeat):
            _each_database(args.csv.resolve(), args.only, args.csv.resolve().parent)
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
                _each_database(csv_path, args.only, Path(tmp))
            csv_path.unlink()


def _each_database(csv_path: Path, only: str | None, scratch: Path) -> None:
    if only != "postgresql":
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            migrated(url)
            run("SQLite", url, csv_path)
    if only != "sqlite":
        postgresql(csv_path)


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
        url = f"postgresql+psycopg://{base}/{name}"
        migrated(url)
        run("PostgreSQL", url, csv_path, name)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
