"""Import people from a CSV file: stream, validate, merge, never re-subscribe the unwilling.

This module reads the file and runs the import; ``merger`` applies its rows to the
database and ``importreport`` says what it did.

The whole import is one transaction (a dry run rolls it back), so it either
completes or changes nothing. Rows are processed in batches: addresses are
normalised in Python, existing people and suppressions are looked up one query
per batch, and new rows go in with bulk inserts (COPY on PostgreSQL), which is
what makes a million rows take seconds rather than hours.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy.exc
from sqlalchemy.orm import Session, sessionmaker

from subscribers import csvfile
from subscribers.batches import prepared_batches, read_ahead
from subscribers.bulk import Writer
from subscribers.csvfile import CsvSource
from subscribers.errors import Conflict, NewsletterError
from subscribers.formats import LISTMONK, NOT_SUBSCRIBED, Layout, status_from_word
from subscribers.importreport import CUT_OFF, Summary
from subscribers.jsonsource import JsonSource, looks_like_json
from subscribers.merger import Merger
from subscribers.models import Status
from subscribers.rejects import Rejects, default_errors_path

Progress = Callable[[int, int], None]
"""Called after each batch with (rows read so far, bytes read so far)."""

_INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError, sqlalchemy.exc.IntegrityError)

_STATUS_CHOICES = "subscribed, unsubscribed, cleaned, bounced, complained or pending"


class ConsentMissing(NewsletterError, ValueError):
    """A file that does not say whether its people agreed to be mailed, imported without
    staff saying so (``--consent``) or choosing another status (``--status``)."""


class ImportConflict(Conflict):
    """Someone else changed the same people while the import ran; nothing was written."""


_NARROW = 8  # columns: the files a writer's batch size was measured with have at most this


def _batch_size(writer: Writer, columns: int) -> int:
    """The writer's batch size, smaller for a wide file when batches are read ahead.

    Each row keeps all its cells (for the rejects file), and reading ahead holds
    several batches at once: a wide file (a Mailchimp export has over twenty columns)
    at the narrow files' batch size made a PostgreSQL import hold several times the
    memory (``bench/import.py`` prints the peak).
    """
    if not writer.overlaps or columns <= _NARROW:
        return writer.batch_size
    return max(1000, writer.batch_size * _NARROW // columns)


def _open(path: Path, fmt: str | None, mapping: dict[str, str] | None) -> CsvSource | JsonSource:
    """listmonk's API JSON (which carries list subscription statuses), else a CSV file."""
    csvfile.require_file(path)
    if fmt in (None, LISTMONK) and looks_like_json(path):
        return JsonSource(path)
    return CsvSource(path, fmt=fmt, mapping=mapping)


def default_status(layout: Layout, filename: str, status: str | None, consent: str) -> str:
    """The status of rows the file says nothing about ("" when it always says).

    Nobody is imported as mailable unless staff state on what basis they agreed
    (``consent``) or the file itself records their subscription.
    """
    if status is not None:
        target = status_from_word(status)
        if target is None or target == NOT_SUBSCRIBED:
            raise ConsentMissing(f"unknown --status {status!r} (choose {_STATUS_CHOICES})")
        if layout.speaks_of_status:
            raise ConsentMissing(
                f"{filename} is a {layout.kind} that gives each person's status: leave out --status"
            )
    elif layout.speaks_of_status:
        return Status.ACTIVE.value if consent else ""
    else:
        target = Status.ACTIVE.value
    if target == Status.ACTIVE and not consent:
        raise ConsentMissing(
            f"{filename} does not say whether these people agreed to be mailed: state the "
            'basis with --consent "..." (e.g. --consent "Signed up on our website"), or '
            "import them with --status unsubscribed; nothing was imported"
        )
    return target


def check(
    path: Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    status: str | None = None,
    consent: str = "",
) -> None:
    """Raise what ``import_csv`` would refuse the file for before reading any row
    (no such file, no email column, no consent basis), so a command can refuse in one
    line before it starts a progress bar."""
    with _open(path, fmt, mapping) as source:
        default_status(source.columns, path.name, status, " ".join(consent.split()))


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
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    status: str | None = None,
    consent: str = "",
) -> Summary:
    """Import ``path`` in one transaction; see the module docstring.

    ``fmt`` forces a format (else it is recognised from the header), ``mapping``
    names columns (see ``formats.parse_map``). Rows whose file says nothing about
    status import as ``status``, which may be (and by default is) "subscribed" only
    with ``consent``, the basis staff state; see ``default_status``.
    ``batch_size`` (rows a batch) defaults to what suits the database best.
    Raises ``CsvFileError`` (nothing written) for a file that is missing, empty or
    has no email column, ``ConsentMissing`` for one imported without a basis.
    """
    summary = Summary(path=path, dry_run=dry_run)
    consent = " ".join(consent.split())
    with _open(path, fmt, mapping) as source:
        summary.encoding, summary.delimiter = source.encoding, source.delimiter
        layout = source.columns
        summary.kind = layout.kind
        target = default_status(layout, path.name, status, consent)
        rejects = Rejects(errors_path or default_errors_path(path), source.columns.header)
        ok = False
        try:
            with factory() as session:
                transaction = session.begin()
                importer = Merger(
                    session,
                    source,
                    summary,
                    rejects,
                    list_name=list_name,
                    default_language=default_language,
                    default_status=target,
                    consent_basis=consent,
                )
                size = batch_size or _batch_size(importer.writer, len(layout.header))
                batches = prepared_batches(source, size)
                if importer.writer.overlaps:
                    batches = read_ahead(batches)
                try:
                    for batch in batches:
                        summary.rows += batch.rows
                        importer.batch(batch)
                        if progress is not None:
                            progress(summary.rows, batch.bytes_read)
                    importer.last()
                    # Builds what it held (an address twice fails here); a dry run is
                    # rolled back, so it builds nothing only to throw it away.
                    importer.writer.finish(verify=not dry_run)
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
                if source.truncated_line:
                    summary.rows += 1
                    summary.skipped[CUT_OFF] += 1
                    rejects.add(source.truncated_line, f"{CUT_OFF}: a quote is never closed", [])
                summary.not_imported = [
                    *(f"column {name!r}" for name in layout.not_imported),
                    *(f"attribute {name!r}" for name in sorted(source.attribute_names)),
                    *(f"list {name!r}" for name in sorted(getattr(source, "list_names", ()))),
                ]
                if dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
            ok = True
        finally:
            summary.errors_path = rejects.close(keep=ok)
    return summary
