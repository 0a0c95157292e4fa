"""Hostile or unusual CSV files: stray quotes, Windows-1252 text, spreadsheet formulas."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from subscribers.csvfile import CsvFileError
from subscribers.importer import CUT_OFF, import_csv
from subscribers.models import Subscriber


def _emails(sessions: sessionmaker[Session]) -> list[str]:
    with transaction(sessions) as s:
        return sorted(s.scalars(select(Subscriber.email)))


def test_a_stray_quote_before_more_rows_fails_the_whole_import(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "stray.csv"
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(3, 20))
    source.write_text(f'email,name\na@example.org,Ann\nb@example.org,"The Boss\n{rows}')
    with pytest.raises(CsvFileError, match=r"line 3: a quote .* is never closed.*nothing"):
        import_csv(sessions, source, batch_size=1)
    assert _emails(sessions) == []
    assert not (tmp_path / "stray.errors.csv").exists()


def test_a_stray_quote_before_a_large_rest_is_a_csv_error_naming_its_line(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(20_000))
    source.write_text(f'email,name\na@example.org,Ann\n\nb@example.org,"The Boss\n{rows}')
    with pytest.raises(CsvFileError, match=r"line 4: a cell longer than .* never closed"):
        import_csv(sessions, source, batch_size=1)
    assert _emails(sessions) == []


def test_a_quote_left_open_on_the_last_line_only_skips_that_row(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "cut.csv"
    source.write_text('email,name\na@example.org,A\nb@example.org,"B\n\n  \n')
    summary = import_csv(sessions, source)
    assert summary.skipped == {CUT_OFF: 1}
    assert _emails(sessions) == ["a@example.org"]


def test_windows_1252_text_from_excel_keeps_its_curly_quotes_and_euro_sign(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "excel.csv"
    text = "email,name\nob@example.org,O\u2019Brien \u201c\u20ac\u201d\nz@example.org,Zo\u00eb\n"
    source.write_bytes(text.encode("cp1252") + b"odd@example.org,A\x81B\n")
    summary = import_csv(sessions, source)
    assert summary.encoding == "cp1252" and summary.added == 3
    with transaction(sessions) as s:
        names = {e: n for e, n in s.execute(select(Subscriber.email, Subscriber.name))}
    assert names == {
        "ob@example.org": "O\u2019Brien \u201c\u20ac\u201d",
        "z@example.org": "Zo\u00eb",
        "odd@example.org": "A\x81B",  # undefined in Windows-1252: read as Latin-1
    }
