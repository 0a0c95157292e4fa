"""Rows in, prepared batches out: addresses normalised, duplicates within a batch merged.

Kept apart from the importer so the preparation is pure (no database) and can be
tested and measured on its own.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Protocol

from subscribers.addresses import fast_address, normalise
from subscribers.csvfile import BAD_STATUS, Row
from subscribers.errors import InvalidAddress
from subscribers.formats import Event, lower_status
from subscribers.slugs import slugify

NO_ADDRESS = "no address"
INVALID = "invalid address"
BAD_TOPIC = "bad topic"
BAD_STATUS_REASON = "unreadable status"
_TOPIC_MAX = 200


class RowSource(Protocol):
    """A file read row by row: ``csvfile.CsvSource`` or ``jsonsource.JsonSource``."""

    @property
    def bytes_read(self) -> int: ...

    def rows(self) -> Iterator[Row]: ...


@dataclass(slots=True)
class Record:
    """One address of a batch with every row of the batch that carried it, merged."""

    email: str
    key: str
    name: str
    language: str
    topics: dict[str, None]  # ordered set of topic names
    rows: list[Row]
    status: str = ""  # the most restrictive status of its rows ("": the file does not say)
    tags: dict[str, None] | None = None  # ordered set of tag names
    history: tuple[Event, ...] = ()


@dataclass(slots=True)
class Prepared:
    """A batch ready to merge: usable records by key, and rejected rows with reasons."""

    rows: int
    bytes_read: int
    records: dict[str, Record]
    rejected: list[tuple[Row, str, str]]  # row, reason, detail


def _topics(topics: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """Topics without placeholders such as "-" or "?", and whether any is too long."""
    too_long = any(len(topic) > _TOPIC_MAX for topic in topics)
    return tuple(topic for topic in topics if slugify(topic)), too_long


_checked_topics = functools.lru_cache(maxsize=4096)(_topics)


def prepare(rows: list[Row], bytes_read: int = 0) -> Prepared:
    """Normalise each address; merge rows of the same address (later values win)."""
    records: dict[str, Record] = {}
    rejected: list[tuple[Row, str, str]] = []
    checked, fast, get = _checked_topics, fast_address, records.get
    for row in rows:
        text = row.email
        if not text:
            rejected.append((row, NO_ADDRESS, NO_ADDRESS))
            continue
        pair = fast(text)
        if pair is None:
            try:
                addr = normalise(text)
            except InvalidAddress as exc:
                rejected.append((row, INVALID, str(exc)))
                continue
            pair = addr.email, addr.key
        topics = row.topics
        if topics:
            cleaned, too_long = checked(topics)
            if too_long:
                detail = f"{BAD_TOPIC}: longer than {_TOPIC_MAX} characters"
                rejected.append((row, BAD_TOPIC, detail))
                continue
            row.topics = topics = cleaned
        email, key = pair
        status = row.status
        if status[:1] == BAD_STATUS:
            rejected.append((row, BAD_STATUS_REASON, f"{BAD_STATUS_REASON}: {status[1:]}"))
            continue
        record = get(key)
        if record is None:
            record = records[key] = Record(
                email, key, row.name, row.language, dict.fromkeys(topics), [row], status
            )
        else:
            record.name = row.name or record.name
            record.language = row.language or record.language
            record.topics.update(dict.fromkeys(topics))
            record.rows.append(row)
            record.status = lower_status(record.status, status)
        if row.tags:
            if record.tags is None:
                record.tags = {}
            record.tags.update(dict.fromkeys(row.tags))
        if row.history:
            record.history = row.history
    return Prepared(len(rows), bytes_read, records, rejected)


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def prepared_batches(source: RowSource, size: int) -> Generator[Prepared, None, None]:
    """The file's batches, prepared one at a time as the caller asks for them.

    In the caller's thread for SQLite: it releases Python's lock for every row it
    steps, and a busy second thread makes each of those hand-backs wait (tried: with
    a reader thread the inserts got slower, and the import with them). A reader
    process does not pay off either: pickling a prepared batch across, and unpickling
    it, costs more than preparing it. PostgreSQL, whose server does
    most of the work, reads ahead in a thread instead: see ``read_ahead``.
    """
    for rows in _chunks(source.rows(), size):
        yield prepare(rows, source.bytes_read)


_DONE = object()


def _next(ready: queue.Queue[object], thread: threading.Thread) -> object:
    """The next item, or an error if the thread ended without handing one over (it
    could not even pass on its own failure): never wait for it forever."""
    while True:
        try:
            return ready.get(timeout=0.5)
        except queue.Empty:
            if not thread.is_alive() and ready.empty():
                raise RuntimeError("the import's reading thread stopped unexpectedly") from None


def read_ahead(batches: Iterator[Prepared], depth: int = 2) -> Generator[Prepared, None, None]:
    """``batches`` produced by a thread, up to ``depth`` ahead of the caller.

    For PostgreSQL, whose server works through one batch's statements while this
    process reads and prepares the next (psycopg waits for it without Python's
    lock). The thread touches only the file, never the database. The import
    command shortens Python's thread switch interval meanwhile (``newsletter.cli.tuning``),
    so the database thread does not sit out the preparing thread's whole time slice.
    An error in the thread is raised here; leaving early stops the thread.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    thread = threading.Thread(target=produce, name="import-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := _next(ready, thread)) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # unblock a producer waiting on a full queue
                ready.get_nowait()
        thread.join()
