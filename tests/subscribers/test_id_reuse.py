"""A deleted person's id, which their links carry, never goes to anyone else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from newsletter import database, links, tokens
from newsletter.config import Settings
from newsletter.web.app import create_app
from subscribers import consent, people
from subscribers.models import ConsentEvent, Status, Subscription
from subscribers.orm import utcnow

CONTEXT = consent.Context(form="test")


def test_an_erased_persons_links_never_reach_the_next_person(
    settings: Settings, db_url: str
) -> None:
    settings = settings.model_copy(update={"database_url": db_url})
    app = create_app(settings)
    sessions = app.state.sessions
    try:
        with database.transaction(sessions) as s:
            people.add(s, "first@example.org", CONTEXT)
            gone = people.add(s, "alice@example.org", CONTEXT).id
        unsubscribe = tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": gone, "c": 1})
        preferences = links.preferences_url(settings, gone)
        with database.transaction(sessions) as s:
            assert people.erase(s, "alice@example.org", CONTEXT)
        with database.transaction(sessions) as s:
            carol = people.add(s, "carol@example.org", CONTEXT, name="Carol Secret").id
        assert carol > gone
        with TestClient(app) as client:
            page = client.get(preferences.removeprefix(settings.public_base_url))
            assert "carol@example.org" not in page.text and "Carol" not in page.text
            client.post(f"/u/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
        with database.transaction(sessions) as s:
            assert people.lookup(s, "carol@example.org").status == Status.ACTIVE
    finally:
        app.state.engine.dispose()


def test_the_sqlite_rebuild_keeps_every_row_and_what_points_at_it(tmp_path: Path) -> None:
    """An existing SQLite database upgraded in place: people, their subscriptions and
    consent history all survive (dropping the old table must not cascade), and from
    then on the newest person's id is not reused."""
    engine: Engine = database.open_database(f"sqlite:///{tmp_path / 'old.db'}")
    command.downgrade(database.alembic_config(engine), "sub_0001")  # the table as it was
    sessions = database.session_factory(engine)
    now = utcnow()
    with engine.begin() as conn:  # the tables as they were then: no ORM, whose model moved on
        conn.execute(
            text(
                "INSERT INTO lists (slug, name, description, archived, created_at) "
                "VALUES ('ukraine', 'Ukraine', '', false, :now)"
            ),
            {"now": now},
        )
        for n in range(1, 4):
            values = {"id": n, "email": f"reader{n}@example.org", "now": now}
            conn.execute(
                text(
                    "INSERT INTO subscribers (id, email, email_key, name, language, status, "
                    "source, created_at, confirmed_at, updated_at) VALUES (:id, :email, :email, "
                    "'', 'en', 'active', 'staff', :now, :now, :now)"
                ),
                values,
            )
            conn.execute(
                text(
                    "INSERT INTO subscriptions (subscriber_id, list_id, subscribed, updated_at) "
                    "SELECT :id, id, true, :now FROM lists WHERE slug = 'ukraine'"
                ),
                values,
            )
            conn.execute(
                text(
                    "INSERT INTO consent_log (subscriber_id, action, lists, at, ip, user_agent, "
                    "form, wording) VALUES (:id, 'staff-add', '[\"Ukraine\"]', :now, '', '', "
                    "'test', '')"
                ),
                values,
            )
    with database.transaction(sessions) as s:
        before = s.scalar(select(func.count()).select_from(ConsentEvent))
    database.upgrade(engine)
    assert database.is_current(engine)
    with database.transaction(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Subscription)) == 3
        assert s.scalar(select(func.count()).select_from(ConsentEvent)) == before
        assert [p.id for p in people.search(s)] == [1, 2, 3]
        people.remove(s, people.lookup(s, "reader3@example.org"))
    with database.transaction(sessions) as s:
        assert people.add(s, "next@example.org", CONTEXT).id == 4
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_a_failed_migration_leaves_foreign_keys_enforced(tmp_path: Path) -> None:
    """Migrations run with enforcement off; one that fails must not hand the pool a
    connection that still has it off."""
    scripts = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS, scripts)
    (scripts / "versions" / "zz_fails.py").write_text(
        'revision = "zz_fails"\ndown_revision = "sub_0002"\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade() -> None:\n"
        '    raise RuntimeError("this migration fails")\n',
        encoding="utf-8",
    )
    engine = database.make_engine(f"sqlite:///{tmp_path / 'fails.db'}")
    config = database.alembic_config(engine)
    config.set_main_option("script_location", str(scripts))
    with pytest.raises(RuntimeError, match="this migration fails"):
        command.upgrade(config, "heads")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
