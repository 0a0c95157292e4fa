"""Import people from a CSV file: stream, validate, merge, never re-subscribe the unwilling.

The whole import is one transaction (a dry run rolls it back), so it either
completes or changes nothing. Rows are processed in batches: addresses are
normalised in Python, existing people and suppressions are looked up one query
per batch, and new rows go in with bulk inserts (COPY on PostgreSQL), which is
what makes a million rows take seconds rather than hours.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import functools
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
import sqlalchemy.exc
from sqlalchemy.orm import Session, sessionmaker

from subscribers import lists
from subscribers.batches import Prepared, Record, prepared_batches, read_ahead
from subscribers.bulk import Existing, Writer, writer_for
from subscribers.csvfile import CsvFileError, CsvSource, Row, spreadsheet_safe
from subscribers.errors import Conflict
from subscribers.models import BLOCKED, Kind, MailingList, Status
from subscribers.orm import utcnow
from subscribers.people import clean_language
from subscribers.tuning import COLLECTOR_OFF

Progress = Callable[[int, int], None]
"""Called after each batch with (rows read so far, bytes read so far)."""

_INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError, sqlalchemy.exc.IntegrityError)

SUPPRESSED = "suppressed"
CUT_OFF = "file ends mid-row"


class ImportConflict(Conflict):
    """Someone else changed the same people while the import ran; nothing was written."""


@dataclass
class Summary:
    """What an import did (or, for a dry run, would have done)."""

    path: Path
    encoding: str = ""
    delimiter: str = ","
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # rows repeating an address met earlier in the file (merged into it)
    skipped: Counter[str] = field(default_factory=Counter)
    lists_created: list[str] = field(default_factory=list)
    errors_path: Path | None = None
    dry_run: bool = False


class _Rejects:
    """The error CSV: written only when a row is rejected; removed if the import fails.

    Staff open it in a spreadsheet, so cells that would run as formulas are quoted.
    """

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self._header = header
        self._file: IO[str] | None = None
        self._writer: Any = None
        self.count = 0

    def add(self, line: int, reason: str, cells: list[str]) -> None:
        if self._file is None:
            try:
                self._file = self.path.open("w", encoding="utf-8", newline="")
            except OSError as exc:
                raise CsvFileError(
                    f"cannot write rejected rows to {self.path}: {exc.strerror}; "
                    "nothing was imported (choose another place with --errors)"
                ) from None
            self._writer = csv.writer(self._file)
            self._writer.writerow(["line", "reason", *map(spreadsheet_safe, self._header)])
        self._writer.writerow([line, spreadsheet_safe(reason), *map(spreadsheet_safe, cells)])
        self.count += 1

    def close(self, *, keep: bool) -> Path | None:
        if self._file is not None:
            self._file.close()
            if not keep:
                self.path.unlink(missing_ok=True)
        return self.path if keep and self.count else None


def default_errors_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.errors.csv")


class _Importer:
    def __init__(
        self,
        session: Session,
        source: CsvSource,
        summary: Summary,
        rejects: _Rejects,
        *,
        list_name: str | None,
        default_language: str,
    ) -> None:
        self.session = session
        self.source = source
        self.summary = summary
        self.rejects = rejects
        self.default_language = clean_language(default_language)
        self.writer: Writer = writer_for(session)
        self.writer.start()  # before any statement: see ``Writer.start``
        self.label = f"import:{source.path.name}"[:100]
        self._lists: dict[str, MailingList] = {}
        self._touched = bytearray()  # one bit per person id met in this file
        self._starts: list[int] = []  # ... and runs of ids it added, first and last
        self._ends: list[int] = []
        self._combos: dict[tuple[str, ...], tuple[tuple[int, ...], str]] = {}
        try:
            self.base: list[MailingList] = [self._list(list_name, Kind.LIST)] if list_name else []
            if self.base and self.base[0].is_topic:
                lists.get_list(session, self.base[0].name)  # refuses with the clear line
        except BaseException:
            self.writer.finish(verify=False)  # the pooled connection gets its settings back
            raise

    def _list(self, name: str, kind: Kind = Kind.TOPIC) -> MailingList:
        """The list or topic ``name``; a missing one is created as ``kind`` (the file's
        topics column makes topics, ``--list`` a list)."""
        found = self._lists.get(name)
        if found is not None:
            return found
        slug = lists.slugify(name)
        found = self._lists.get(slug)
        if found is None:
            self.writer.drain()  # the session's statements come after the writer's
            found = lists.find(self.session, name)
            if found is None:
                found = lists.create(self.session, name, kind=kind)
                self.summary.lists_created.append(found.name)
            self._lists[slug] = found
        self._lists[name] = found
        return found

    def _added(self, ids: list[int]) -> None:
        """Mark people this import has just added as met: a run of consecutive ids (the
        usual case) is kept as one range instead of one bit at a time."""
        if ids and ids == list(range(ids[0], ids[0] + len(ids))):
            at = bisect.bisect_left(self._starts, ids[0])
            self._starts.insert(at, ids[0])
            self._ends.insert(at, ids[-1])
        else:
            for sid in ids:
                self._touch(sid)

    def _touch(self, sid: int) -> bool:
        """Mark a person as met in this file; True if they had been met already."""
        at = bisect.bisect_right(self._starts, sid) - 1
        if at >= 0 and sid <= self._ends[at]:
            return True
        if sid >= len(self._touched) * 8:
            self._touched.extend(bytes(max(sid // 8 + 1 - len(self._touched), 4096)))
        byte, bit = divmod(sid, 8)
        seen = bool(self._touched[byte] >> bit & 1)
        self._touched[byte] |= 1 << bit
        return seen

    def _skip(self, rows: list[Row], reason: str, detail: str = "") -> None:
        for row in rows:
            self.summary.skipped[reason] += 1
            self.rejects.add(row.line, detail or reason, row.cells)

    def batch(self, prepared: Prepared) -> None:
        for row, reason, detail in prepared.rejected:
            self._skip([row], reason, detail)
        if prepared.records:
            self._merge(prepared.records)

    def _combo(self, topics: tuple[str, ...]) -> tuple[tuple[int, ...], str]:
        """List ids and the consent log's JSON for one combination of topics (cached)."""
        found = self._combos.get(topics)
        if found is None:
            chosen = {m.id: m for m in [*self.base, *(self._list(t) for t in topics)]}
            names = json.dumps(sorted(m.name for m in chosen.values()))
            found = self._combos[topics] = (tuple(chosen), names)
        return found

    def _merge(self, records: dict[str, Record]) -> None:
        existing = self.writer.existing(list(records))
        suppressed = self.writer.suppressed_keys(list(records))
        stamp = self.writer.stamp(utcnow())
        new: list[Record] = []
        known: list[tuple[Record, Existing]] = []
        for key, record in records.items():
            found = existing.get(key)
            if found is not None and found[1] in BLOCKED:
                self._skip(record.rows, found[1], f"{found[1]}: never re-subscribed by an import")
            elif key in suppressed:
                self._skip(record.rows, SUPPRESSED, "suppressed: asked never to be mailed")
            elif found is None:
                new.append(record)
            else:
                known.append((record, found))

        active, label, default = Status.ACTIVE.value, self.label, self.default_language
        language = _language
        ids = self.writer.insert_subscribers(
            [
                (r.email, r.key, r.name[:200], language(r.language or default), active, label)
                for r in new
            ],
            stamp,
        )
        pairs: list[tuple[int, int]] = []
        consent: list[tuple[int, str]] = []
        add_pair, add_consent, combo = pairs.append, consent.append, self._combo
        self._added(ids)
        duplicates = 0
        for record, sid in zip(new, ids, strict=True):
            list_ids, names = combo(tuple(record.topics))
            for list_id in list_ids:
                add_pair((sid, list_id))
            add_consent((sid, names))
            duplicates += len(record.rows) - 1
        self.summary.duplicates += duplicates
        self.summary.added += len(new)
        if known:
            self._update(known, pairs, consent, stamp)
        self.writer.insert_subscriptions(pairs, stamp)
        self.writer.insert_consent(consent, stamp, label, _wording(self.source.path.name))

    def _update(
        self,
        known: list[tuple[Record, Existing]],
        pairs: list[tuple[int, int]],
        consent: list[tuple[int, str]],
        stamp: object,
    ) -> None:
        """People already in the database: fill in what the file adds, count the rest."""
        active = Status.ACTIVE.value
        have = self.writer.subscriptions([found[0] for _, found in known])
        updates: list[dict[str, object]] = []
        for record, (sid, status, name, language) in known:
            list_ids, names = self._combo(tuple(record.topics))
            missing = [list_id for list_id in list_ids if (sid, list_id) not in have]
            change: dict[str, object] = {}
            if record.name and record.name[:200] != name:
                change["name"] = record.name[:200]
            if record.language and _language(record.language) != language:
                change["language"] = _language(record.language)
            if status == Status.PENDING:
                change["status"] = active
            seen = self._touch(sid)
            self.summary.duplicates += len(record.rows) - (0 if seen else 1)
            if change or missing:
                self.summary.updated += 0 if seen else 1
                updates.append({"sid": sid, **change})
                pairs.extend((sid, list_id) for list_id in missing)
                consent.append((sid, names))
            elif not seen:
                self.summary.unchanged += 1
        self.writer.update_subscribers(updates, stamp)


_language = functools.lru_cache(maxsize=1024)(clean_language)


def _wording(filename: str) -> str:
    return f"Imported by staff from {filename}, who hold the person's consent"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while importing (restored afterwards).

    An import allocates millions of short-lived containers (rows, cells, records),
    each of which reference counting frees with its batch: they form no cycles. But
    the allocations keep triggering the collector, whose older generations walk
    every live object of the process (SQLAlchemy, the models, the caches) again and
    again: a third of the CPU time of a million-row import, for nothing to collect.
    Any cycle made meanwhile is collected once the collector runs again.
    """
    with COLLECTOR_OFF.held():
        yield


def import_csv(
    factory: sessionmaker[Session],
    path: Path,
    *,
    list_name: str | None = None,
    dry_run: bool = False,
    errors_path: Path | None = None,
    default_language: str = "en",
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> Summary:
    """Import ``path`` in one transaction; see the module docstring.

    ``batch_size`` (rows a batch) defaults to what suits the database best.
    Raises ``CsvFileError`` (nothing written) for a file that is missing, empty or
    has no email column.
    """
    summary = Summary(path=path, dry_run=dry_run)
    with _collector_paused(), CsvSource(path) as source:
        summary.encoding, summary.delimiter = source.encoding, source.delimiter
        rejects = _Rejects(errors_path or default_errors_path(path), source.columns.header)
        ok = False
        try:
            with factory() as session:
                transaction = session.begin()
                importer = _Importer(
                    session,
                    source,
                    summary,
                    rejects,
                    list_name=list_name,
                    default_language=default_language,
                )
                batches = prepared_batches(source, batch_size or importer.writer.batch_size)
                if importer.writer.overlaps:
                    batches = read_ahead(batches)
                try:
                    for batch in batches:
                        summary.rows += batch.rows
                        importer.batch(batch)
                        if progress is not None:
                            progress(summary.rows, batch.bytes_read)
                    importer.writer.drain()
                except BaseException as exc:
                    with contextlib.suppress(Exception):  # the transaction may be aborted
                        importer.writer.finish(verify=False)
                    if isinstance(exc, _INTEGRITY):
                        raise ImportConflict(
                            "the list changed during the import (the same address was added "
                            "elsewhere at the same moment); nothing was imported: run it again"
                        ) from exc
                    raise
                finally:
                    batches.close()  # stops a reader thread before the file is closed
                importer.writer.finish()
                if source.truncated_line:
                    summary.rows += 1
                    summary.skipped[CUT_OFF] += 1
                    rejects.add(source.truncated_line, f"{CUT_OFF}: a quote is never closed", [])
                if dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
            ok = True
        finally:
            summary.errors_path = rejects.close(keep=ok)
    return summary
