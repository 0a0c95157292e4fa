"""Rows in, prepared batches out: addresses normalised, duplicates within a batch merged.

Kept apart from the importer so the preparation is pure (no database) and can be
tested and measured on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from subscribers.addresses import normalise
from subscribers.csvfile import CsvSource, Row
from subscribers.errors import InvalidAddress
from subscribers.lists import slugify

NO_ADDRESS = "no address"
INVALID = "invalid address"
BAD_TOPIC = "bad topic"
_TOPIC_MAX = 200


@dataclass(slots=True)
class Record:
    """One address of a batch with every row of the batch that carried it, merged."""

    email: str
    key: str
    name: str
    language: str
    topics: dict[str, None]  # ordered set of topic names
    rows: list[Row]


@dataclass(slots=True)
class Prepared:
    """A batch ready to merge: usable records by key, and rejected rows with reasons."""

    rows: int
    bytes_read: int
    records: dict[str, Record]
    rejected: list[tuple[Row, str, str]]  # row, reason, detail


def prepare(rows: list[Row], bytes_read: int = 0) -> Prepared:
    """Normalise each address; merge rows of the same address (later values win)."""
    records: dict[str, Record] = {}
    rejected: list[tuple[Row, str, str]] = []
    for row in rows:
        if not row.email:
            rejected.append((row, NO_ADDRESS, NO_ADDRESS))
            continue
        try:
            addr = normalise(row.email)
        except InvalidAddress as exc:
            rejected.append((row, INVALID, str(exc)))
            continue
        if any(len(topic) > _TOPIC_MAX for topic in row.topics):
            rejected.append((row, BAD_TOPIC, f"{BAD_TOPIC}: longer than {_TOPIC_MAX} characters"))
            continue
        if not all(map(slugify, row.topics)):  # "-" or "?" as a placeholder: no topic
            row.topics = [topic for topic in row.topics if slugify(topic)]
        record = records.get(addr.key)
        if record is None:
            topics = dict.fromkeys(row.topics)
            records[addr.key] = Record(addr.email, addr.key, row.name, row.language, topics, [row])
        else:
            record.name = row.name or record.name
            record.language = row.language or record.language
            record.topics.update(dict.fromkeys(row.topics))
            record.rows.append(row)
    return Prepared(len(rows), bytes_read, records, rejected)


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def prepared_batches(source: CsvSource, size: int) -> Iterator[Prepared]:
    """The file's batches, prepared one at a time as the caller asks for them.

    Deliberately in the caller's thread: SQLite releases Python's lock for every
    row it steps, and a busy second thread makes each of those hand-backs wait
    (tried: with a reader thread the inserts got slower, and the import with them).
    """
    for rows in _chunks(source.rows(), size):
        yield prepare(rows, source.bytes_read)
