"""Process-wide interpreter settings an import changes while it runs.

The garbage collector and the thread switch interval belong to the whole process:
two imports overlapping on threads must not restore each other's changes early,
nor leave them changed for good. A ``Shared`` setting is changed when its first
holder enters and put back when its last holder leaves.
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
"""Python's cyclic collector paused (see ``importer``): restored by the last import."""

SWITCH_INTERVAL = 0.0005  # seconds: see ``batches.read_ahead``
QUICK_SWITCHES = Shared(
    sys.getswitchinterval, sys.setswitchinterval, lambda now: min(now, SWITCH_INTERVAL)
)
"""Threads hand the interpreter lock over more often while a read-ahead thread runs."""
