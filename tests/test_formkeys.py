"""One-time form keys: a key is spent once, even by two posts at the same moment."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from newsletter.staff import formkeys


def test_a_key_is_spent_once_and_remembers_where_it_led(sessions: sessionmaker[Session]) -> None:
    key = formkeys.issue()
    assert formkeys.usable(key) and not formkeys.usable("") and not formkeys.usable("a b" * 10)
    with transaction(sessions) as session:
        formkeys.check(session, key)  # not spent yet: no complaint
        formkeys.spend(session, key, "/admin/campaigns/7", "editor@example.org")
    with transaction(sessions) as session, pytest.raises(formkeys.KeySpent) as caught:
        formkeys.check(session, key)
    assert caught.value.target == "/admin/campaigns/7"
    with pytest.raises(formkeys.KeySpent), transaction(sessions) as session:
        formkeys.spend(session, key, "/admin/campaigns/8", "editor@example.org")
    with transaction(sessions) as session:
        assert formkeys.target(session, key) == "/admin/campaigns/7"
        assert formkeys.target(session, formkeys.issue()) == ""


@pytest.mark.backend("postgresql")
def test_two_posts_at_once_spend_a_key_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """The second transaction waits on the first one's key and is refused when it commits."""
    key = formkeys.issue()
    outcome: list[str] = []

    def second() -> None:
        try:
            with transaction(sessions) as session:
                formkeys.spend(session, key, "/admin/campaigns/2", "b@example.org")
            outcome.append("spent")
        except formkeys.KeySpent:
            outcome.append("refused")

    with sessions() as first, first.begin():
        formkeys.spend(first, key, "/admin/campaigns/1", "a@example.org")
        thread = threading.Thread(target=second)
        thread.start()
        waiting = threading.Event()
        with engine.connect() as watch:
            while not waiting.is_set() and thread.is_alive():  # until it waits on our row
                blocked = watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar()
                if blocked:
                    waiting.set()
                watch.rollback()
        assert waiting.is_set(), "the second post did not wait on the first"
    thread.join()
    assert outcome == ["refused"]
    with transaction(sessions) as session:
        count = session.scalar(select(func.count()).select_from(formkeys.SpentFormKey))
        assert count == 1 and formkeys.target(session, key) == "/admin/campaigns/1"
