"""Reading subscriber CSV files of unknown origin: encoding, delimiter, header, rows.

Spreadsheets export UTF-8 with or without a byte-order mark, Windows-1252 (Excel's
default on Windows) or Latin-1, commas or semicolons; staff should not have to know
which. The file is streamed row by row, so its size does not matter.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from subscribers.addresses import fast_address, normalise
from subscribers.errors import InvalidAddress, NewsletterError
from subscribers.formats import BadRow, Event, Layout, extras_reader, layout, map_field

_SAMPLE = 64 * 1024
_DELIMITERS = ",;\t|"
BAD_STATUS = "!"
"""A row's status starting with this is the reason it could not be read."""
_TOPIC_SPLIT = re.compile(r"[;|,]")  # ours use ";"; Mailchimp's groups ", "
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_KNOWN_TOPIC_CELLS = 10_000


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a ``'`` in front when a spreadsheet would run it as a formula.

    A file written here is opened by staff in Excel or LibreOffice, which execute a
    cell starting with one of ``= + - @`` as a formula (and may drop a leading tab or
    carriage return before one): a name such as ``=HYPERLINK(...)`` typed into a signup form could
    send data elsewhere. A leading quote makes it text (OWASP's advice for CSV
    injection); the importer takes that quote off again, so exports round-trip.
    """
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def _unescape(cell: str) -> str:
    """Undo ``spreadsheet_safe``: drop the ``'`` it puts before a formula character."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1] in _FORMULA_STARTS else cell


class CsvFileError(NewsletterError, ValueError):
    """A file that cannot be read as a subscriber CSV (no email column, empty, unreadable)."""


WINDOWS_1252 = "cp1252"
DECODE_ERRORS = "subscribers-latin1-fallback"
"""Decoding errors handler: bytes a codec leaves undefined (five in Windows-1252) as Latin-1."""


def _as_latin1(exc: UnicodeError) -> tuple[str, int]:
    """Decode the bytes a codec has no character for as Latin-1 (never fails)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error(DECODE_ERRORS, _as_latin1)


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when there is a BOM, ``utf-8`` when the whole file decodes, else
    Windows-1252.

    Windows-1252 is Latin-1 with printable characters (’ € “ ” …) where Latin-1
    has invalid control codes, so a Latin-1 file reads the same as either, and an
    Excel file with curly quotes reads right only as Windows-1252.
    """
    with path.open("rb") as raw:
        if raw.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        raw.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := raw.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return WINDOWS_1252
    return "utf-8"


@dataclass(slots=True)
class Row:
    """One data row as read: its first line number, the raw cells and the mapped fields."""

    line: int
    cells: list[str]
    email: str
    name: str
    language: str
    topics: tuple[str, ...] = ()
    status: str = ""  # our status for this row ("": the file does not say)
    tags: tuple[str, ...] = ()
    history: tuple[Event, ...] = ()  # consent events the old tool recorded


def _pick(cells: list[str], index: int) -> str:
    return cells[index].strip() if 0 <= index < len(cells) else ""


def _delimiter(
    sample: str, filename: str, fmt: str | None, mapping: dict[str, str] | None
) -> tuple[str, Layout | None]:
    lines = [line for line in sample.splitlines() if line.strip()]
    header_line = lines[0] if lines else ""
    candidates: list[str] = []
    with contextlib.suppress(csv.Error):
        candidates.append(csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter)
    by_count = sorted(_DELIMITERS, key=lambda d: -header_line.count(d))
    candidates.extend(by_count)
    for delimiter in candidates:
        header = next(csv.reader([header_line], delimiter=delimiter), [])
        columns = layout(header, filename, fmt, mapping)
        if columns is not None:
            return delimiter, columns
    return ",", None


def require_file(path: Path) -> int:
    """The file's size in bytes, or ``CsvFileError`` before any work starts."""
    if not path.is_file():
        raise CsvFileError(f"{path}: no such file")
    return path.stat().st_size


class CsvSource:
    """Iterate the data rows of a subscriber CSV; see ``rows()``.

    ``bytes_read`` follows the progress through the file for a progress bar.
    """

    def __init__(
        self, path: Path, *, fmt: str | None = None, mapping: dict[str, str] | None = None
    ) -> None:
        self.size = require_file(path)
        self.path = path
        self.encoding = detect_encoding(path)
        self._raw = path.open("rb")
        self._file = io.TextIOWrapper(
            self._raw, encoding=self.encoding, errors=DECODE_ERRORS, newline=""
        )
        sample = self._file.read(_SAMPLE)
        if not sample.strip():
            self._file.close()
            raise CsvFileError(f"{path}: the file is empty")
        self.delimiter, columns = _delimiter(sample, path.name, fmt, mapping)
        if columns is None:
            self._file.close()
            first = next((line for line in sample.splitlines() if line.strip()), "")
            raise CsvFileError(
                f"{path}: no email column in the header {first[:200]!r} "
                "(expected a column named email, e-mail or address, or say which with "
                '--map "COLUMN=email")'
            )
        self.columns = columns
        self.attribute_names: set[str] = set()  # listmonk attributes seen (not imported)
        self._file.seek(0)

    @property
    def bytes_read(self) -> int:
        try:
            return min(self._raw.tell(), self.size)
        except (OSError, ValueError):
            return self.size

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def rows(self) -> Iterator[Row]:
        """Data rows after the header; blank lines skipped.

        A quote that is never closed swallows the rest of the file. When it sits on
        the file's last line (the file ends mid-row) that record is not returned and
        ``truncated_line`` gives its line; anywhere else it would silently drop every
        row after it, so it raises ``CsvFileError`` naming its line, as does any
        other error of the CSV reader (such as a cell over the field size limit).
        A stray quote that a later quoted cell closes raises too (see ``_check_glued``).
        """
        reader = csv.reader(self._file, delimiter=self.delimiter)
        make = self._maker()
        seen_header = False
        previous_end = 0
        pending: Row | None = None
        spans_lines = False
        self.truncated_line = 0
        try:
            for cells in reader:
                start = previous_end + 1
                previous_end = reader.line_num
                first = cells[0] if cells else ""
                if (not first or first.isspace()) and not "".join(cells).strip():
                    continue  # blank (the first cell is nearly always the address: cheap test)
                if not seen_header:
                    seen_header = True
                    continue
                if pending is not None:
                    if spans_lines:
                        self._check_glued(pending)
                    yield pending
                pending = make(start, cells)
                spans_lines = previous_end > start
        except csv.Error as exc:
            raise self._broken(previous_end + 1, exc) from None
        if pending is not None:
            cut = self._cut_off(pending.line)
            if cut == _SWALLOWS:
                raise self._unclosed(pending.line)
            if cut == _ENDS_MID_ROW:
                self.truncated_line = pending.line
            else:
                if spans_lines:
                    self._check_glued(pending)
                yield pending

    def _check_glued(self, row: Row) -> None:
        """Raise ``CsvFileError`` when a cell running over lines takes in what look like rows.

        A quote left open by mistake and closed by a later quoted cell glues every
        line between them into one cell; nothing else looks wrong, so without this
        those rows would vanish into a name. A quoted cell may hold line breaks (an
        address, a name on two lines), but not lines that read as a row of this file
        with an address in its email column.
        """
        line = row.line
        for cell in row.cells:
            inner = _LINE_BREAK.split(cell)
            if len(inner) > 1 and any(self._looks_like_row(text) for text in inner[1:]):
                raise CsvFileError(
                    f'{self.path}: line {line}: a quote (") opens a cell that runs on to '
                    f"line {line + len(inner) - 1}, taking in lines that look like rows of "
                    "their own; nothing was imported (close or remove that quote and "
                    "import again)"
                )
            line += len(inner) - 1

    def _looks_like_row(self, text: str) -> bool:
        if self.delimiter not in text:
            return False
        cells = next(csv.reader([text], delimiter=self.delimiter), [])
        email = _unescape(_pick(cells, self.columns.email))
        if "@" not in email:
            return False
        if fast_address(email) is not None:
            return True
        try:
            normalise(email)
        except InvalidAddress:
            return False
        return True

    def _unclosed(self, line: int) -> CsvFileError:
        return CsvFileError(
            f'{self.path}: line {line}: a quote (") is never closed, so every row after it '
            "would be read as part of one cell; nothing was imported (close or remove "
            "that quote and import again)"
        )

    def _broken(self, line: int, exc: csv.Error) -> CsvFileError:
        """The reader's error as a ``CsvFileError`` naming the line its record starts on."""
        if "field larger than field limit" in str(exc):
            return CsvFileError(
                f"{self.path}: line {line}: a cell longer than {csv.field_size_limit():,} "
                'characters, most likely a quote (") that is never closed; nothing was '
                "imported (close or remove that quote and import again)"
            )
        return CsvFileError(
            f"{self.path}: line {line}: not readable as CSV ({exc}); nothing was imported"
        )

    def _maker(self) -> Callable[[int, list[str]], Row]:
        """A function turning cells into a ``Row``, specialised for this header (hot path)."""
        c = self.columns
        email_at, name_at, language_at, topics_at = c.email, c.name, c.language, c.topics
        split_name = c.name < 0 and (c.first >= 0 or c.last >= 0)
        split_topics = _TOPIC_SPLIT.split
        known: dict[str, tuple[str, ...]] = {}  # a file repeats a few topic cells endlessly

        def make(line: int, cells: list[str]) -> Row:
            n = len(cells)
            name = cells[name_at].strip() if 0 <= name_at < n else ""
            if split_name:
                name = f"{_pick(cells, c.first)} {_pick(cells, c.last)}".strip()
            if name[:1] == "'":
                name = _unescape(name)
            if "  " in name or "\n" in name or "\t" in name or "\r" in name:
                name = " ".join(name.split())
            topics_cell = cells[topics_at] if 0 <= topics_at < n else ""
            topics = known.get(topics_cell)
            if topics is None:
                cell = _unescape(topics_cell.lstrip())
                topics = tuple(t for t in (p.strip() for p in split_topics(cell)) if t)
                if len(known) < _KNOWN_TOPIC_CELLS:
                    known[topics_cell] = topics
            email = cells[email_at].strip() if email_at < n else ""
            if email[:1] == "'":
                email = _unescape(email)
            return Row(
                line,
                cells,
                email,
                name,
                cells[language_at].strip() if 0 <= language_at < n else "",
                topics,
            )

        if not c.has_extras:
            return make
        extras = extras_reader(c, self.attribute_names)

        def make_with_extras(line: int, cells: list[str]) -> Row:
            row = make(line, cells)
            try:
                row.status, row.tags, row.history = extras(cells)
            except BadRow as exc:
                row.status = f"{BAD_STATUS}{exc}"
            return row

        return make_with_extras

    def _cut_off(self, line: int) -> str:
        """Re-read the last record (from ``line`` to the end) strictly; see ``_cut_off``."""
        with self.path.open(encoding=self.encoding, errors=DECODE_ERRORS, newline="") as again:
            raw = list(itertools.islice(again, line - 1, None))
        return _cut_off(raw, self.delimiter)


_COMPLETE = "complete"
_ENDS_MID_ROW = "ends mid-row"
_SWALLOWS = "swallows rows"


_END_CHECK = "end of file check"
"""A last line added to a re-read: read as a row of its own unless a quoted cell is open."""


def _cut_off(raw: list[str], delimiter: str) -> str:
    """Whether a last record's quote was never closed, and if so whether lines follow.

    The lenient reader glues such a record together silently. Re-reading just that
    record with one more line after it tells the two apart: the line is a row of its
    own unless the reader is still inside a quoted cell at the end of the file. A
    quote merely out of place (``"Carol" Smith``) is read as everywhere else in the
    file. An unclosed quote on the last line means the file ends mid-row; one followed
    by more lines with text would swallow what were meant as rows of their own.
    """
    if not raw or '"' not in raw[0]:
        return _COMPLETE
    if [_END_CHECK] in csv.reader([*raw, _END_CHECK], delimiter=delimiter):
        return _COMPLETE
    return _SWALLOWS if any(line.strip() for line in raw[1:]) else _ENDS_MID_ROW


@dataclass(frozen=True)
class Preview:
    """A file's columns as staff see them before mapping: each header cell, its first
    values, and the ``--map`` field the file's own layout gives it ("ignore" if none)."""

    header: list[str]
    samples: list[list[str]]
    fields: list[str]


def preview(path: Path, rows: int = 3) -> Preview:
    """The header and first ``rows`` rows of ``path``, read as an import would read them."""
    require_file(path)
    with path.open(encoding=detect_encoding(path), errors=DECODE_ERRORS, newline="") as file:
        sample = file.read(_SAMPLE)
    if not sample.strip():
        raise CsvFileError(f"{path.name}: the file is empty")
    delimiter, columns = _delimiter(sample, path.name, None, None)
    if columns is None:  # no address column recognised: the likeliest delimiter
        first = next((line for line in sample.splitlines() if line.strip()), "")
        delimiter = max(_DELIMITERS, key=first.count)
    found: list[list[str]] = []
    with contextlib.suppress(csv.Error):  # a sample may end inside a quoted cell
        for cells in csv.reader(io.StringIO(sample), delimiter=delimiter):
            if any(c.strip() for c in cells):
                found.append(cells)
            if len(found) > rows:
                break
    header = found[0] if found else []
    samples = [[_pick(cells, i) for cells in found[1:]] for i in range(len(header))]
    fields = [map_field(columns, i) for i in range(len(header))]
    return Preview(header, samples, fields)
