"""Imports that run while the console shows how far they got.

A million-row import takes minutes: longer than a browser waits for one answer. So the
import runs in a thread of the process that received the upload, and the page asks for
its progress (rows read, bytes of the file read) until it is over.

The progress lives in the database (``console_imports``), written about once a second,
because ``newsletter serve --workers N`` (or a second machine) may answer the page from
another process than the one importing. SQLite is the exception: the import holds the
file's one write lock until it commits, so there the running figures come from this
process's memory and the database learns only the start and the result.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.staff.models import ConsoleImport
from subscribers.importreport import Summary, report
from subscribers.orm import utcnow

_LOCK = threading.Lock()
_RUNNING: dict[str, Job] = {}  # imports running in this process
_KEEP_DAYS = 7  # finished imports remembered, so a late page still shows the result
TICK = 1.0  # seconds between progress writes


@dataclass
class Job:
    """One import running here: the importer reports to it, a reporter thread writes it."""

    id: str
    size: int
    rows: int = 0
    read: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def progress(self, rows: int, read: int) -> None:
        """The importer's progress callback: rows seen and bytes read so far."""
        self.rows, self.read = rows, min(read, self.size)


@dataclass(frozen=True)
class Snapshot:
    """What the progress page shows of one import, running or over."""

    size: int
    rows: int
    read: int
    done: bool
    error: str = ""
    summary: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: str = ""

    @property
    def percent(self) -> int:
        return round(100 * self.read / max(self.size, 1))


def rejected_file(summary: Summary) -> str:
    """The name of the file of rejected rows the page links to, or "" if none was written."""
    path = summary.errors_path
    return path.name if path is not None and path.is_file() else ""


def _outcome(summary: Summary) -> dict[str, object]:
    rows, notes = report(summary)
    return {"summary": [list(r) for r in rows], "notes": notes, "rejected": rejected_file(summary)}


def start(
    factory: sessionmaker[Session],
    size: int,
    work: Callable[[Job], Summary],
    *,
    staff: str = "",
    tick: float = TICK,
) -> str:
    """Record the import and run ``work`` in a thread; the id the progress page polls."""
    job = Job(id=secrets.token_urlsafe(12), size=max(size, 1))
    now = utcnow()
    with transaction(factory) as session:
        session.execute(
            delete(ConsoleImport).where(
                ConsoleImport.done.is_(True),
                ConsoleImport.updated_at < now - timedelta(days=_KEEP_DAYS),
            )
        )
        session.add(ConsoleImport(id=job.id, staff=staff, size=job.size, started_at=now))
    with _LOCK:
        _RUNNING[job.id] = job
    shared = factory.kw["bind"].dialect.name != "sqlite"
    over = threading.Event()

    def write(**values: object) -> None:
        with transaction(factory) as session:
            session.execute(
                update(ConsoleImport)
                .where(ConsoleImport.id == job.id)
                .values(rows=job.rows, read_bytes=job.read, updated_at=utcnow(), **values)
            )

    def report_progress() -> None:
        written = (-1, -1)
        while not over.wait(tick):
            if (job.rows, job.read) != written:
                written = (job.rows, job.read)
                write()

    def run() -> None:
        if shared:
            threading.Thread(target=report_progress, name=f"import-progress-{job.id[:6]}").start()
        error, outcome = "", None
        try:
            summary = work(job)
            job.rows, job.read = summary.rows, job.size
            outcome = _outcome(summary)
        except Exception as problem:  # shown to staff on the page; nothing was committed
            error = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        finally:
            over.set()
            try:
                write(done=True, error=error, outcome=outcome)
            finally:
                with _LOCK:
                    _RUNNING.pop(job.id, None)
                job.done.set()

    threading.Thread(target=run, name=f"console-import-{job.id[:6]}", daemon=True).start()
    return job.id


def running(job_id: str) -> Job | None:
    """The import of that id if this process runs it (tests wait on its ``done``)."""
    with _LOCK:
        return _RUNNING.get(job_id)


def get(factory: sessionmaker[Session], job_id: str) -> Snapshot | None:
    """The import as the page shows it, from whichever process runs it."""
    with factory() as session:
        row = session.get(ConsoleImport, job_id[:32])
        if row is None:
            return None
        stored = Snapshot(row.size, row.rows, row.read_bytes, row.done, row.error)
        outcome = cast(dict[str, Any], row.outcome or {})
    here = running(job_id)
    if not stored.done and here is not None and here.rows > stored.rows:
        stored = Snapshot(stored.size, here.rows, here.read, False)
    summary = [(str(label), int(n)) for label, n in outcome.get("summary", [])]
    return Snapshot(
        stored.size,
        stored.rows,
        stored.read,
        stored.done,
        stored.error,
        summary,
        [str(n) for n in outcome.get("notes", [])],
        str(outcome.get("rejected", "")),
    )
