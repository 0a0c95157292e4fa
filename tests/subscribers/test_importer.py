"""CSV import on SQLite and PostgreSQL: edge cases, all-or-nothing, and a property test."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from subscribers import bulk, consent, people
from subscribers.addresses import normalise
from subscribers.batches import BAD_TOPIC, INVALID
from subscribers.csvfile import CsvFileError
from subscribers.importer import import_csv
from subscribers.importreport import CUT_OFF, SUPPRESSED
from subscribers.models import ConsentEvent, Status, Subscriber
from subscribers.orm import Base
from tests.subscribers.conftest import CONSENT

STAFF = consent.Context(form="cli:test")
ROLE = "nl_plain_importer"  # an ordinary PostgreSQL role, without superuser rights


def _write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def _people(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str, str, list[str]]]:
    """email_key -> (email, name, status, sorted list names)."""
    with transaction(sessions) as s:
        return {
            p.email_key: (
                p.email,
                p.name,
                p.status,
                [m.name for m in people.subscribed_lists(s, p)],
            )
            for p in s.scalars(select(Subscriber))
        }


def _rejects(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def test_a_spreadsheet_export_with_bom_semicolons_and_newlines(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "people.csv",
        b"\xef\xbb\xbfE-Mail;Name;Topics\r\n"
        b"\r\n"
        b'ann@example.org;"Ann\r\nSmith";Ukraine|Nuclear weapons\r\n'
        b"not-an-address;Nobody;Ukraine\r\n"
        b"ANN@Example.ORG;;Arms control\r\n"
        b"bob@example.org;Bob;\r\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT, list_name="All briefings")
    assert (summary.encoding, summary.delimiter) == ("utf-8-sig", ";")
    assert (summary.rows, summary.added, summary.duplicates) == (4, 2, 1)
    assert summary.skipped == {INVALID: 1}
    assert sorted(summary.lists_created) == [
        "All briefings",
        "Arms control",
        "Nuclear weapons",
        "Ukraine",
    ]
    assert _people(sessions) == {
        "ann@example.org": (
            "ann@example.org",
            "Ann Smith",
            Status.ACTIVE,
            ["All briefings", "Arms control", "Nuclear weapons", "Ukraine"],
        ),
        "bob@example.org": ("bob@example.org", "Bob", Status.ACTIVE, ["All briefings"]),
    }
    assert summary.errors_path == tmp_path / "people.errors.csv"
    [(line, reason, *cells)] = _rejects(summary.errors_path)
    assert line == "5" and reason.startswith("'not-an-address' is not a valid")
    assert cells == ["not-an-address", "Nobody", "Ukraine"]
    with transaction(sessions) as s:
        events = s.scalars(select(ConsentEvent)).all()
        assert {e.action for e in events} == {consent.IMPORT}
        assert {e.form for e in events} == {"import:people.csv"}


def test_latin1_files_and_header_synonyms(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    source = _write(
        tmp_path / "old.csv",
        "Email Address,First Name,Last Name,Lang\nzoe@example.org,Zoë,Müller,de\n",
        encoding="latin-1",
    )
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.encoding == "cp1252" and summary.errors_path is None  # Latin-1 reads the same
    with transaction(sessions) as s:
        person = people.lookup(s, "zoe@example.org")
        assert (person.name, person.language) == ("Zoë Müller", "de")


@pytest.mark.parametrize("preload", [200_000, 0], ids=["suppressions-in-memory", "queried"])
def test_never_resubscribes_people_who_left(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preload: int
) -> None:
    monkeypatch.setattr(bulk, "_PRELOAD_SUPPRESSIONS", preload)
    with transaction(sessions) as s:
        people.unsubscribe(s, people.add(s, "left@example.org", STAFF), STAFF)
        people.mark(s, people.add(s, "bounced@example.org", STAFF), Status.BOUNCED)
        people.erase(s, "erased@example.org", STAFF)
    source = _write(
        tmp_path / "list.csv",
        "email\nLEFT@example.org\nbounced@example.org\nerased@example.org\nnew@example.org\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT, list_name="All briefings")
    assert summary.added == 1
    assert summary.skipped == {"unsubscribed": 1, "bounced": 1, SUPPRESSED: 1}
    found = _people(sessions)
    assert found["left@example.org"][2] == Status.UNSUBSCRIBED
    assert found["bounced@example.org"][2] == Status.BOUNCED
    assert "erased@example.org" not in found
    assert [row[0] for row in _rejects(summary.errors_path)] == ["2", "3", "4"]  # type: ignore[arg-type]


def test_merging_with_people_already_on_the_list(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(sessions) as s:
        people.add(s, "same@example.org", STAFF, name="Same", topics=["Ukraine"])
        people.add(s, "moved@example.org", STAFF, name="Old name")
        people.add(s, "waiting@example.org", STAFF, status=Status.PENDING)
    source = _write(
        tmp_path / "update.csv",
        "email,name,topics\n"
        "same@example.org,Same,Ukraine\n"
        "moved@example.org,New name,Ukraine\n"
        "waiting@example.org,,\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT)
    assert (summary.added, summary.updated, summary.unchanged) == (0, 2, 1)
    found = _people(sessions)
    assert found["moved@example.org"][1:] == ("New name", Status.ACTIVE, ["Ukraine"])
    assert found["waiting@example.org"][2] == Status.ACTIVE


def test_a_file_that_ends_mid_row(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    source = _write(tmp_path / "cut.csv", 'email,name\na@example.org,A\nb@example.org,"B\n')
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.added == 1 and summary.skipped == {CUT_OFF: 1}
    assert list(_people(sessions)) == ["a@example.org"]
    assert _rejects(summary.errors_path)[0][:1] == ["3"]  # type: ignore[arg-type]


def test_a_last_row_without_newline_is_fine(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    summary = import_csv(
        sessions, _write(tmp_path / "x.csv", 'email,name\na@example.org,"A"'), consent=CONSENT
    )
    assert summary.added == 1 and not summary.skipped


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\n\n  \n", "empty"), (b"name,phone\nAnn,123\n", "no email column")],
)
def test_unusable_files_are_refused_and_change_nothing(
    sessions: sessionmaker[Session], tmp_path: Path, content: bytes, message: str
) -> None:
    source = _write(tmp_path / "bad.csv", content)
    with pytest.raises(CsvFileError, match=message):
        import_csv(sessions, source, consent=CONSENT, list_name="All briefings")
    assert _people(sessions) == {}
    assert not (tmp_path / "bad.errors.csv").exists()
    with pytest.raises(CsvFileError, match="no such file"):
        import_csv(sessions, tmp_path / "missing.csv", consent=CONSENT)


def test_it_completes_or_changes_nothing(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    rows = "".join(f"p{i}@example.org\n" for i in range(6)) + "broken\n"
    source = _write(tmp_path / "all.csv", "email\n" + rows)
    with pytest.raises(CsvFileError, match="nothing was imported"):
        import_csv(
            sessions,
            source,
            consent=CONSENT,
            errors_path=tmp_path / "no" / "such" / "dir.csv",
            batch_size=2,
        )
    assert _people(sessions) == {}


def test_dry_run_reports_but_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = _write(tmp_path / "dry.csv", "email\na@example.org\nb@example.org\nbad\n")
    summary = import_csv(sessions, source, consent=CONSENT, list_name="All briefings", dry_run=True)
    assert (summary.added, summary.skipped[INVALID], summary.dry_run) == (2, 1, True)
    assert _people(sessions) == {}
    assert summary.errors_path is not None and summary.errors_path.exists()


_pool = st.sampled_from(
    ["ann@example.org", "bob@example.net", "cy@mail.example.com", "dé@example.fr"]
)
_valid = st.builds(lambda a, upper: a.upper() if upper else a, _pool, st.booleans())
_invalid = st.sampled_from(["", "plainaddress", "a..b@example.org", "x@localhost", "@example.org"])


def _clear(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in {
                "subscribers",
                "lists",
                "subscriptions",
                "consent_log",
                "suppressions",
            }:
                s.execute(delete(table))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(st.one_of(_valid, _invalid), max_size=12), batch=st.integers(1, 4))
def test_any_mix_ends_with_exactly_the_valid_deduplicated_set(
    sessions: sessionmaker[Session], tmp_path: Path, rows: list[str], batch: int
) -> None:
    _clear(sessions)
    source = _write(tmp_path / "mix.csv", "email,name\n" + "".join(f"{r},N\n" for r in rows))
    summary = import_csv(sessions, source, consent=CONSENT, batch_size=batch)
    expected = {normalise(r).key for r in rows if r and "@" in r and _usable(r)}
    assert set(_people(sessions)) == expected
    assert summary.added == len(expected)
    used = summary.added + summary.updated + summary.unchanged + summary.duplicates
    assert used + sum(summary.skipped.values()) == summary.rows
    assert summary.rows == sum(1 for r in rows if r) or summary.rows == len(rows)


def _usable(text: str) -> bool:
    try:
        normalise(text)
    except ValueError:
        return False
    return True


@pytest.mark.backend("postgresql")
def test_postgres_import_works_for_an_ordinary_role(
    sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    """Without superuser rights the foreign-key triggers stay on and the import still works."""
    from newsletter.database import make_engine, session_factory

    admin = make_engine(db_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(
            f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        for kind in ("TABLES", "SEQUENCES"):
            conn.exec_driver_sql(f"GRANT ALL ON ALL {kind} IN SCHEMA public TO {ROLE}")
    plain = make_engine(db_url.replace("postgres@", f"{ROLE}@", 1))
    try:
        source = _write(tmp_path / "p.csv", "email,topics\na@example.org,Ukraine\nb@example.org,\n")
        summary = import_csv(
            session_factory(plain), source, consent=CONSENT, list_name="All briefings"
        )
        assert summary.added == 2
        assert set(_people(sessions)) == {"a@example.org", "b@example.org"}
    finally:
        plain.dispose()
        with admin.begin() as conn:
            for kind in ("TABLES", "SEQUENCES"):
                conn.exec_driver_sql(f"REVOKE ALL ON ALL {kind} IN SCHEMA public FROM {ROLE}")
        admin.dispose()


def test_odd_topics_neither_create_lists_nor_stop_the_import(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    long_topic = "x" * 201
    source = _write(
        tmp_path / "topics.csv",
        f"email,topics\na@example.org,-\nb@example.org,{long_topic}\nc@example.org,Ukraine;?\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.added == 2 and summary.skipped == {BAD_TOPIC: 1}
    assert summary.lists_created == ["Ukraine"]
    found = _people(sessions)
    assert (found["a@example.org"][3], found["c@example.org"][3]) == ([], ["Ukraine"])


def test_cells_that_copy_would_have_to_escape_are_stored_as_written(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = _write(
        tmp_path / "odd\tname.csv",
        "email,name,topics\n"
        'back@example.org,"Back\\slash \\N",Défense\n'
        "plain@example.org,Plain,Ukraine\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT)
    assert summary.added == 2
    found = _people(sessions)
    assert found["back@example.org"][1:] == ("Back\\slash \\N", Status.ACTIVE, ["Défense"])
    assert found["plain@example.org"][1:] == ("Plain", Status.ACTIVE, ["Ukraine"])
    with transaction(sessions) as s:
        events = s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [e.lists for e in events] == [["Défense"], ["Ukraine"]]
        assert {e.form for e in events} == {"import:odd\tname.csv"}
        person = s.scalars(select(Subscriber).where(Subscriber.email_key == "plain@example.org"))
        [plain] = person.all()
        assert plain.created_at == plain.updated_at == events[1].at
        assert plain.created_at.tzinfo is not None and plain.confirmed_at is None


@pytest.mark.parametrize("json_each", [True, False], ids=["json-each", "executemany"])
def test_both_ways_of_writing_a_batch_store_the_same_rows(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    json_each: bool,
) -> None:
    """SQLite older than 3.38 gets the rows bound one by one; the result must not differ."""
    monkeypatch.setattr(bulk, "_JSON_EACH", json_each)
    source = _write(
        tmp_path / "people.csv",
        "email,name,language,topics\n"
        "ann@example.org,Ann,de,Ukraine;Nuclear weapons\n"
        "Bob@Example.org,Bøb \"the\" 'Builder',,\n"
        "ann@example.org,,,Arms control\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT, list_name="All briefings")
    assert (summary.added, summary.duplicates) == (2, 1)
    assert _people(sessions) == {
        "ann@example.org": (
            "ann@example.org",
            "Ann",
            Status.ACTIVE,
            ["All briefings", "Arms control", "Nuclear weapons", "Ukraine"],
        ),
        "bob@example.org": (
            "Bob@example.org",
            "Bøb \"the\" 'Builder'",
            Status.ACTIVE,
            ["All briefings"],
        ),
    }
    with transaction(sessions) as s:
        ann = people.lookup(s, "ann@example.org")
        assert ann.language == "de" and ann.source == "import:people.csv"
        events = s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.subscriber_id, e.lists) for e in events] == [
            (ann.id, ["All briefings", "Arms control", "Nuclear weapons", "Ukraine"]),
            (people.lookup(s, "bob@example.org").id, ["All briefings"]),
        ]


@pytest.mark.parametrize("batch", [1, 2, 5000])
def test_a_person_met_again_in_a_later_batch_is_a_duplicate_not_an_update(
    sessions: sessionmaker[Session], tmp_path: Path, batch: int
) -> None:
    with transaction(sessions) as s:
        people.add(s, "old@example.org", STAFF, name="Old")
    source = _write(
        tmp_path / "people.csv",
        "email,name\nann@example.org,Ann\nold@example.org,Old\nbob@example.org,Bob\n"
        "ANN@example.org,Ann\nOLD@example.org,Old\nold@example.org,Older\n",
    )
    summary = import_csv(sessions, source, consent=CONSENT, batch_size=batch)
    counts = (summary.added, summary.updated, summary.unchanged, summary.duplicates)
    # Each person counts once, as first met: in one batch Old's rows merge into an update.
    assert counts == ((2, 0, 1, 3) if batch < 5000 else (2, 1, 0, 3))
    assert _people(sessions)["old@example.org"][1] == "Older"
