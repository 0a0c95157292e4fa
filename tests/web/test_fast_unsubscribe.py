"""One-click unsubscribes answered before FastAPI and written in groups, on SQLite and
PostgreSQL: each answer comes after the commit that holds it, requests that arrive
during a write share the next one, and a group that fails is not an error for a reader."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from newsletter import links, tokens
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.web.app import PublicApp, create_app
from newsletter.web.fast_unsubscribe import UnsubscribeWriter
from subscribers import consent, people
from subscribers.models import ConsentEvent, Status, Subscriber

STAFF = consent.Context(form="test")
CLICK = consent.Context(form="one-click", wording="List-Unsubscribe (campaign 1)")
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _readers(sessions: sessionmaker[Session], count: int) -> list[int]:
    with transaction(sessions) as s:
        return [people.add(s, f"reader{i}@example.org", STAFF).id for i in range(count)]


def _status(sessions: sessionmaker[Session], subscriber_id: int) -> str:
    with transaction(sessions) as s:
        return str(s.scalar(select(Subscriber.status).where(Subscriber.id == subscriber_id)))


def test_requests_arriving_during_a_write_share_the_next_and_wait_for_its_commit(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    ids = _readers(sessions, 4)
    groups: list[list[int]] = []
    writing, release = threading.Event(), threading.Event()

    class Held(UnsubscribeWriter):
        def write(self, group: Sequence[people.Leaving]) -> list[bool | None]:
            groups.append([one.subscriber_id for one in group])
            writing.set()
            if len(groups) == 1:
                assert release.wait(60)
            return super().write(group)

    async def run() -> list[bool | None]:
        writer = Held(engine, sessions)
        first = asyncio.create_task(writer.unsubscribe(people.Leaving(ids[0], CLICK)))
        await asyncio.to_thread(writing.wait, 60)
        asked = [*ids[1:], ids[1]]  # a mail client posting twice
        later = [asyncio.create_task(writer.unsubscribe(people.Leaving(i, CLICK))) for i in asked]
        while writer.queued() < len(asked):
            await asyncio.sleep(0)  # the tasks queue themselves behind the held write
        assert not first.done()  # not answered before its commit
        assert _status(sessions, ids[0]) == Status.ACTIVE
        release.set()
        answers = [await first]
        assert _status(sessions, ids[0]) == Status.UNSUBSCRIBED
        return answers + [await task for task in later]

    assert asyncio.run(run()) == [True, True, True, True, False]
    assert groups == [[ids[0]], [*ids[1:], ids[1]]]
    with transaction(sessions) as s:
        events = s.scalars(
            select(ConsentEvent.subscriber_id).where(ConsentEvent.form == "one-click")
        )
        assert sorted(i or 0 for i in events) == ids


@pytest.fixture
def client(settings: Settings, db_url: str) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"database_url": db_url}))
    with TestClient(app, base_url="https://testserver") as client:
        yield client
    app.state.engine.dispose()


def _token(client: TestClient, subscriber_id: int) -> str:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return tokens.sign(settings.secret, links.UNSUBSCRIBE, {"s": subscriber_id, "c": 1})


def test_the_fast_answer_is_the_routes_answer(client: TestClient) -> None:
    fast, routed = _readers(client.app.state.sessions, 2)  # type: ignore[attr-defined]
    quick = client.post(f"/u/{_token(client, fast)}", data=ONE_CLICK)
    multipart = {"List-Unsubscribe": (None, "One-Click")}  # the route's: not taken early
    slow = client.post(f"/u/{_token(client, routed)}", files=multipart)
    assert quick.status_code == slow.status_code == 200
    assert quick.text == slow.text and "You are unsubscribed" in quick.text
    differ = {"content-length", "content-type", "date", "server"}
    assert {k: v for k, v in quick.headers.items() if k not in differ} == {
        k: v for k, v in slow.headers.items() if k not in differ
    }


def test_a_group_that_fails_to_write_is_tried_again_by_the_route(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.app
    assert isinstance(app, PublicApp) and app.fast_unsubscribe is not None
    (sid,) = _readers(app.state.sessions, 1)
    failed: list[int] = []

    def broken(group: Sequence[people.Leaving]) -> list[bool | None]:
        failed.extend(one.subscriber_id for one in group)
        raise OperationalError("UPDATE", {}, Exception("the database went away"))

    monkeypatch.setattr(app.fast_unsubscribe.writer, "write", broken)
    answer = client.post(f"/u/{_token(client, sid)}", data=ONE_CLICK)
    assert failed == [sid]
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert _status(app.state.sessions, sid) == Status.UNSUBSCRIBED
    with transaction(app.state.sessions) as s:
        assert s.scalars(
            select(ConsentEvent.form).where(ConsentEvent.action == "unsubscribe")
        ).all() == ["one-click"]
