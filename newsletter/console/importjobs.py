"""Imports that run while the console shows how far they got.

A million-row import takes minutes: longer than a browser waits for one answer. So the
import runs in a thread of this process and the page asks for its progress (rows read,
bytes of the file read) until it is over. The registry lives in this process's memory:
the console is served by one process (``newsletter serve``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from subscribers.importreport import Summary

_LOCK = threading.Lock()
_KEEP = 20  # finished jobs remembered, so a late page still shows the result


@dataclass
class Job:
    """One running (or finished) import: what the progress fragment shows."""

    size: int
    rows: int = 0
    read: int = 0
    summary: Summary | None = None
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    def progress(self, rows: int, read: int) -> None:
        """The importer's progress callback: rows seen and bytes read so far."""
        self.rows, self.read = rows, min(read, self.size)


_JOBS: dict[str, Job] = {}


def start(size: int, work: Callable[[Job], Summary]) -> str:
    """Run ``work`` in a thread; the job's id, which the progress page polls."""
    job_id = secrets.token_urlsafe(12)
    job = Job(size=max(size, 1))
    with _LOCK:
        finished = [k for k, j in _JOBS.items() if j.done.is_set()]
        for old in finished[: max(0, len(finished) - _KEEP)]:
            del _JOBS[old]
        _JOBS[job_id] = job

    def run() -> None:
        try:
            job.summary = work(job)
        except Exception as problem:  # shown to staff on the page; nothing was committed
            job.error = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        finally:
            job.read = job.size if job.summary is not None else job.read
            job.done.set()

    threading.Thread(target=run, name=f"console-import-{job_id[:6]}", daemon=True).start()
    return job_id


def get(job_id: str) -> Job | None:
    with _LOCK:
        return _JOBS.get(job_id)
