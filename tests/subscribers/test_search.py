"""Finding people by part of their address or name, accents and case aside, on SQLite and
PostgreSQL, whichever way their name or address was written: staff add and edit, the
public form, an import; and nobody erased is ever found again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection, Select, insert, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.database import transaction
from subscribers import bulk, consent, lists, optin, people, search, searchindex
from subscribers.folding import fold, key
from subscribers.importer import import_csv
from subscribers.models import Status, Subscriber
from tests.subscribers.conftest import CONSENT, SubscribersCli

STAFF = consent.Context(form="cli:test")
OLD_COLUMNS = (
    "email",
    "email_key",
    "name",
    "language",
    "status",
    "source",
    "created_at",
    "updated_at",
)
ROWS = 200_000  # enough that reading the table costs more than the index, as on a real list
FORM = consent.Context(form="web:subscribe", ip="192.0.2.1")


def _found(sessions: sessionmaker[Session], query: str, **filters: object) -> list[str]:
    with transaction(sessions) as s:
        return [p.email for p in people.search(s, text=query, **filters)]  # type: ignore[arg-type]


def _fts_intact(sessions: sessionmaker[Session]) -> None:
    """On SQLite, the trigram table still mirrors the column exactly (FTS5 checks it)."""
    with transaction(sessions) as s:
        if s.get_bind().dialect.name == "sqlite":
            s.execute(
                text("INSERT INTO subscriber_search(subscriber_search) VALUES ('integrity-check')")
            )


def test_fold_lowers_and_takes_accents_and_odd_punctuation_off() -> None:
    assert fold("Chloé") == fold("CHLOÉ") == fold("chloe") == "chloe"
    assert fold("  Zoë   Brontë ") == "zoe bronte"
    assert fold("Søren Łukasz Straße") == "soren lukasz strasse"
    assert fold("O’Brien–Smith") == "o'brien-smith"
    assert fold("ﬁona") == "fiona"  # a ligature, as some keyboards type it
    assert fold("Zoë\u00a8Brontë") == "zoe bronte"  # a spacing diaeresis folds to a space
    assert fold("Zoë \u0301Ann") == "zoe ann"  # an accent on no letter goes
    assert key("chloe@example.org", "Chloé Martin") == " chloe@example.org chloe martin"


def test_a_name_is_found_without_its_accents_and_in_any_case(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        people.add(s, "cm@example.org", STAFF, name="Chloé Martin")
        people.add(s, "bob@example.org", STAFF, name="Bob Chlodwig")
        people.add(s, "ines@exämple.org", STAFF, name="Inès")
    for query in ("chloe", "CHLOÉ", "Chloé", "  chloe   MARTIN "):
        assert _found(sessions, query) == ["cm@example.org"]
    assert _found(sessions, "chlo") == ["cm@example.org", "bob@example.org"]  # oldest first
    assert _found(sessions, "ines") == _found(sessions, "INÈS") == ["ines@exämple.org"]
    assert _found(sessions, "bob@example.org") == ["bob@example.org"]
    assert _found(sessions, "exa") == ["cm@example.org", "bob@example.org", "ines@exämple.org"]
    assert _found(sessions, "nobody") == []
    assert len(_found(sessions, "   ")) == 3  # blank: no text filter


def test_wildcards_typed_by_staff_are_plain_characters(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        people.add(s, "a_b@example.org", STAFF, name="100% Sure")
        people.add(s, "axb@example.org", STAFF, name="1000 Sure")
    assert _found(sessions, "0% s") == ["a_b@example.org"]
    assert _found(sessions, "a_b") == ["a_b@example.org"]
    assert _found(sessions, 'say "hi"') == []  # a quote is text, not query syntax


def test_a_short_query_matches_the_start_of_the_address_or_of_a_word(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        people.add(s, "an@example.org", STAFF, name="Ann")
        people.add(s, "joan@example.org", STAFF, name="Joan")
        people.add(s, "sam@example.org", STAFF, name="Sam Ng")
    assert _found(sessions, "an") == ["an@example.org"]  # not Joan: no word starts with it
    assert _found(sessions, "NG") == ["sam@example.org"]  # a word of the name
    assert _found(sessions, "J") == ["joan@example.org"]
    assert _found(sessions, "n") == []  # one letter: the start of the address only
    assert _found(sessions, "é") == []


def test_a_changed_name_is_found_by_the_new_one_only(
    sessions: sessionmaker[Session], cli: SubscribersCli
) -> None:
    with transaction(sessions) as s:
        person = people.add(s, "zb@example.org", STAFF, name="Zoë Brontë")
        people.update(s, person, STAFF, name="Zoë Haworth")
    assert _found(sessions, "haworth") == ["zb@example.org"]
    assert _found(sessions, "bronte") == []

    cli.ok("edit", "zb@example.org", "--name", "Émile Parsonage")  # the command line's edit
    assert _found(sessions, "emile pars") == ["zb@example.org"]
    assert _found(sessions, "haworth") == []
    _fts_intact(sessions)


def test_the_public_form_writes_a_searchable_name(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        optin.request_subscription(s, "new@example.org", FORM, name="Renée Pending")
    assert _found(sessions, "renee") == ["new@example.org"]
    with transaction(sessions) as s:  # asked again, under another name, before confirming
        optin.request_subscription(s, "new@example.org", FORM, name="Renée Later")
    assert _found(sessions, "renee later") == ["new@example.org"]
    assert _found(sessions, "pending") == []
    _fts_intact(sessions)


def test_an_erased_person_is_never_found(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        people.add(s, "gone@example.org", STAFF, name="Gonzalo Gómez")
        people.add(s, "stays@example.org", STAFF, name="Gómez Stays")
    with transaction(sessions) as s:
        assert people.erase(s, "gone@example.org", STAFF)
    assert _found(sessions, "gomez") == ["stays@example.org"]
    assert _found(sessions, "gone@") == []
    assert _found(sessions, "gonzalo") == []
    with transaction(sessions) as s:
        keys = list(s.scalars(text("SELECT search_key FROM subscribers")))
    assert keys == [" stays@example.org gomez stays"]  # nothing of the erased is kept
    _fts_intact(sessions)


@pytest.mark.parametrize("held", [False, True], ids=["row by row", "held to the end"])
def test_people_an_import_adds_or_renames_are_found(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: bool
) -> None:
    """Held: SQLite's search table is brought up to date once at the end of the import
    (as for a big file), with batches of one row so that renames of people old and new
    come after later rows were written."""
    if held:
        monkeypatch.setattr(bulk.Writer, "hold_index_from", 1)
    with transaction(sessions) as s:
        people.add(s, "old@example.org", STAFF, name="Olaf Oldname")
        people.add(s, "older@example.org", STAFF, name="Otto Unchanged")
    source = tmp_path / "readers.csv"
    source.write_text(
        "email,name\nchloe.i@example.org,Chloé Imported\nsoren.k@example.org,Søren Kierkegaard\n"
        "old@example.org,Olaf Renamed\nchloe.i@example.org,Chloé Twicenamed\n"
        "old@example.org,Olaf Againrenamed\n",
        encoding="utf-8",
    )
    summary = import_csv(sessions, source, consent=CONSENT, batch_size=1 if held else None)
    assert (summary.added, summary.updated) == (2, 1)
    assert _found(sessions, "twicenamed") == ["chloe.i@example.org"]
    assert _found(sessions, "chloe imp") == []
    assert _found(sessions, "soren kierk") == ["soren.k@example.org"]
    assert _found(sessions, "againrenamed") == ["old@example.org"]
    assert _found(sessions, "oldname") == _found(sessions, "olaf renamed") == []
    assert _found(sessions, "unchanged") == ["older@example.org"]
    _fts_intact(sessions)
    with transaction(sessions) as s:  # the triggers are back: a sign-up is found at once
        people.add(s, "later@example.org", STAFF, name="Lena Later")
    assert _found(sessions, "lena lat") == ["later@example.org"]
    _fts_intact(sessions)


@pytest.mark.backend("sqlite")  # its search table
def test_a_failed_big_import_leaves_the_search_table_as_it_was(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk.Writer, "hold_index_from", 1)
    with transaction(sessions) as s:
        people.add(s, "old@example.org", STAFF, name="Olaf Oldname")

    def broken(*_args: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(bulk.Writer, "insert_consent", broken)
    source = tmp_path / "readers.csv"
    source.write_text("email,name\nold@example.org,Olaf Renamed\nnew@example.org,Nia New\n")
    with pytest.raises(RuntimeError, match="disk is full"):
        import_csv(sessions, source, consent=CONSENT, batch_size=1)
    with transaction(sessions) as s:
        triggers = s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        assert set(triggers) >= set(searchindex.TRIGGERS)
        indexes = s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        assert searchindex.PREFIX_INDEX in set(indexes)
    assert _found(sessions, "oldname") == ["old@example.org"]
    assert _found(sessions, "nia new") == []
    _fts_intact(sessions)


def test_status_and_list_filters_narrow_the_text(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        ukraine = lists.create(s, "Ukraine")
        people.add(s, "a@example.org", STAFF, name="Chloé A", lists=[ukraine])
        people.add(s, "b@example.org", STAFF, name="Chloé B", status=Status.PENDING)
        people.add(s, "c@example.org", STAFF, name="Chloé C")
    assert _found(sessions, "chloe", status=Status.PENDING) == ["b@example.org"]
    with transaction(sessions) as s:
        chosen = lists.get(s, "Ukraine")
        assert [p.email for p in people.search(s, text="chloe", topic=chosen)] == ["a@example.org"]
        assert [p.email for p in people.search(s, text="chloe", limit=2)] == [
            "a@example.org",
            "b@example.org",
        ]


def _plan(session: Session, statement: Select[Subscriber]) -> str:
    """What the database says it would do for ``statement``, with its real parameters."""
    compiled = statement.compile(session.get_bind())
    sql, params = str(compiled), compiled.params
    if session.get_bind().dialect.name == "sqlite":
        ordered = tuple(params[name] for name in compiled.positiontup or ())
        rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ordered)
    else:
        rows = session.connection().exec_driver_sql(f"EXPLAIN {sql}", params)
    return "\n".join(str(row[-1]) for row in rows)


def _crowd(conn: Connection, count: int) -> None:
    """``count`` people written in one statement, keyed as every write keys them."""
    rows = []
    for i in range(count):
        email = f"reader{i}@example.org"
        name = f"{('Ann', 'Bob', 'Chloé', 'Dmitri')[i % 4]} Person{i}"
        rows.append(
            {"email": email, "email_key": email, "name": name, "search_key": key(email, name)}
        )
    conn.execute(insert(Subscriber), rows)


@pytest.mark.backend("postgresql")
def test_postgresql_finds_a_rare_match_through_the_trigram_index(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:  # written by the server: a Python loop takes too long
        s.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, language, status, source, "
                "created_at, updated_at, search_key) SELECT e, e, n, 'en', 'active', 'test', "
                "now(), now(), ' ' || lower(e || ' ' || n) FROM generate_series(0, :last) AS i, "
                "LATERAL (SELECT 'reader' || i || '@example.org' AS e, "
                "(ARRAY['Ann', 'Bob', 'Dmitri'])[i % 3 + 1] || ' Person' || i AS n) AS made"
            ),
            {"last": ROWS - 1},
        )
        s.execute(text("ANALYZE subscribers"))
        sample = s.execute(text("SELECT email_key, name, search_key FROM subscribers LIMIT 3"))
        assert all(key(email, name) == folded for email, name, folded in sample)
    with transaction(sessions) as s:
        for query in ("person12345", "zz-nobody-zz", "qzx", "reader12345@example.org"):
            plan = _plan(s, search.query(s, text=query, limit=51))
            assert "ix_subscribers_search_trgm" in plan, plan
    assert _found(sessions, "reader12345@") == ["reader12345@example.org"]


@pytest.mark.backend("sqlite")
def test_sqlite_finds_text_through_the_trigram_table(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        _crowd(s.connection(), 2_000)
    with transaction(sessions) as s:
        for query in ("person1234", "re"):  # in id order as FTS5 gives it: no sort after
            plan = _plan(s, search.query(s, text=query, limit=51))
            assert "VIRTUAL TABLE INDEX" in plan and "subscriber_search" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        plan = _plan(s, search.query(s, text="r", limit=51))
        assert "ix_subscribers_search_prefix" in plan, plan
    assert _found(sessions, "chloe person1234") == ["reader1234@example.org"]
    _fts_intact(sessions)


def test_the_upgrade_fills_in_the_key_of_everyone_already_on_the_list(db_url: str) -> None:
    engine = database.make_engine(db_url)
    try:
        command.downgrade(database.alembic_config(engine), "sub_0004")
        old = sa.table(  # the table as it was before the search key
            "subscribers",
            *(sa.column(c, Subscriber.__table__.c[c].type) for c in OLD_COLUMNS),
        )
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                insert(old),
                [
                    {
                        "email": e,
                        "email_key": e,
                        "name": n,
                        "language": "en",
                        "status": "active",
                        "source": "staff",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for e, n in (("cl@example.org", "Chloé Lenoir"), ("bo@example.org", "Bo"))
                ],
            )
    finally:
        database.upgrade(engine)
    sessions = database.session_factory(engine)
    try:
        assert _found(sessions, "chloe len") == ["cl@example.org"]
        assert _found(sessions, "bo@") == ["bo@example.org"]
        _fts_intact(sessions)
    finally:
        engine.dispose()
