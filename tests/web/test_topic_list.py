"""The subscribe form's topics are read at most every few seconds, and a change made in
this process is offered at once. The clock is injected: nothing waits."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.config import Settings
from newsletter.web.app import create_app
from newsletter.web.topic_list import FRESH_FOR, PublicTopics
from subscribers import topics
from subscribers.models import MailingList


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def names(listed: PublicTopics) -> list[str]:
    found = listed.fresh()
    return [t.name for t in (found if found is not None else listed.load())]


def test_a_change_elsewhere_is_offered_once_the_copy_is_a_few_seconds_old(
    sessions: sessionmaker[Session],
) -> None:
    with database.transaction(sessions) as session:
        topics.create(session, "Ukraine")
    clock = Clock()
    listed = PublicTopics(sessions, clock=clock)
    assert names(listed) == ["Ukraine"]
    with sessions.kw["bind"].begin() as conn:  # as another process would: no ORM flush here
        conn.execute(update(MailingList).values(name="Ukraine and Russia"))
    clock.now += FRESH_FOR * 0.9
    assert names(listed) == ["Ukraine"]  # from memory, nobody asked
    clock.now += FRESH_FOR * 0.2
    assert names(listed) == ["Ukraine and Russia"]


def test_a_topic_committed_in_this_process_is_offered_at_once(
    sessions: sessionmaker[Session],
) -> None:
    listed = PublicTopics(sessions, clock=Clock())
    assert names(listed) == []
    with database.transaction(sessions) as session:
        topics.create(session, "Nuclear weapons")
    assert names(listed) == ["Nuclear weapons"]
    with database.transaction(sessions) as session:
        topics.publish(session, "Nuclear weapons", public=False)
    assert names(listed) == []


def test_a_rolled_back_change_does_not_force_a_read(sessions: sessionmaker[Session]) -> None:
    with database.transaction(sessions) as session:
        topics.create(session, "Ukraine")
    listed = PublicTopics(sessions, clock=Clock())
    assert names(listed) == ["Ukraine"]
    with sessions() as session, session.begin():
        topics.create(session, "Never offered")
        session.flush()
        session.rollback()
    assert listed.fresh() is not None


def test_the_subscribe_page_offers_a_new_topic_at_once(
    settings: Settings, db_url: str, sessions: sessionmaker[Session]
) -> None:
    with TestClient(create_app(settings.model_copy(update={"database_url": db_url}))) as client:
        assert "Arms control" not in client.get("/subscribe").text
        with database.transaction(sessions) as session:
            topics.create(session, "Arms control")
        assert "Arms control" in client.get("/subscribe").text
