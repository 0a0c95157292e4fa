"""Process-wide interpreter settings a bulk import command changes while it runs.

The garbage collector and the thread switch interval belong to the whole process, so
the command that owns the process sets them (``bulk_import``), never the import
itself: a web server importing a file for the console keeps its own settings. Two
holders overlapping on threads must not restore each other's changes early, nor
leave them changed for good: a ``Shared`` setting is changed when its first holder
enters and put back when its last holder leaves.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Shared(Generic[T]):
    def __init__(
        self, read: Callable[[], T], write: Callable[[T], object], wanted: Callable[[T], T]
    ) -> None:
        self._read, self._write, self._wanted = read, write, wanted
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: T | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._saved = self._read()
                self._write(self._wanted(self._saved))
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    saved, self._saved = self._saved, None
                    self._write(saved)  # type: ignore[arg-type]


def _set_collector(on: bool) -> None:
    if on:
        gc.enable()
    else:
        gc.disable()


COLLECTOR_OFF = Shared(gc.isenabled, _set_collector, lambda _: False)
"""Python's cyclic collector paused; restored by the last holder.

An import allocates millions of short-lived containers (rows, cells, records), each
of which reference counting frees with its batch: they form no cycles. But the
allocations keep triggering the collector, whose older generations walk every live
object of the process (SQLAlchemy, the models, the caches) again and again, for
nothing to collect. Any cycle made meanwhile is collected once it runs again.
"""

SWITCH_INTERVAL = 0.0005  # seconds
QUICK_SWITCHES = Shared(
    sys.getswitchinterval, sys.setswitchinterval, lambda now: min(now, SWITCH_INTERVAL)
)
"""Threads hand the interpreter lock over more often, so the thread reading the file
ahead (``subscribers.batches.read_ahead``) and the one writing to the database do not
wait for each other a whole default interval at every hand-over."""


@contextmanager
def bulk_import() -> Iterator[None]:
    """The settings a long import runs best with, put back when it ends."""
    with COLLECTOR_OFF.held(), QUICK_SWITCHES.held():
        yield
