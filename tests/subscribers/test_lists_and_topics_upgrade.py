"""The upgrade that tells lists from topics and repairs readers who were on no list.

Data is written in the shape it had before (every row of ``lists`` a tickable
"list"), then the real migration runs, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, insert, select

from newsletter import database
from newsletter.campaigns.models import Campaign
from subscribers import audience, people
from subscribers.models import ConsentEvent, MailingList, Subscriber, Subscription
from subscribers.orm import utcnow

OLD_LISTS = sa.table(  # the table as it was: no kind, no public
    "lists",
    sa.column("id", sa.Integer),
    sa.column("slug", sa.String),
    sa.column("name", sa.String),
    sa.column("description", sa.Text),
    sa.column("archived", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
OLD_SUBSCRIBERS = sa.table(  # the columns it had then (no search key yet)
    "subscribers",
    *(
        sa.column(name, Subscriber.__table__.c[name].type)
        for name in (
            "id",
            "email",
            "email_key",
            "name",
            "language",
            "status",
            "source",
            "created_at",
            "updated_at",
        )
    ),
)


@pytest.fixture
def old_engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The test database taken back to before the upgrade; brought forward again after."""
    monkeypatch.delenv("NEWSLETTER_DEFAULT_LIST", raising=False)
    engine = database.make_engine(db_url)
    command.downgrade(database.alembic_config(engine), "sub_0002")
    try:
        yield engine
    finally:
        database.upgrade(engine)
        engine.dispose()


def _seed(
    conn: sa.Connection, lists: list[str], crowd: dict[str, tuple[str, str, dict[str, bool]]]
) -> None:
    """``crowd``: address -> (status, form of their confirm event or "", list rows)."""
    now = utcnow()
    ids = {}
    for name in lists:
        ids[name] = conn.scalar(
            insert(OLD_LISTS)
            .values(
                slug=name.lower().replace(" ", "-"),
                name=name,
                description="",
                archived=False,
                created_at=now,
            )
            .returning(OLD_LISTS.c.id)
        )
    for address, (status, form, rows) in crowd.items():
        sid = conn.scalar(
            insert(OLD_SUBSCRIBERS)
            .values(
                email=address,
                email_key=address,
                name="",
                language="en",
                status=status,
                source="web:subscribe" if form else "staff",
                created_at=now,
                updated_at=now,
            )
            .returning(OLD_SUBSCRIBERS.c.id)
        )
        for name, on in rows.items():
            conn.execute(
                insert(Subscription).values(
                    subscriber_id=sid, list_id=ids[name], subscribed=on, updated_at=now
                )
            )
        if form:
            conn.execute(
                insert(ConsentEvent).values(
                    subscriber_id=sid,
                    action="confirm",
                    lists=sorted(rows),
                    at=now,
                    ip="",
                    user_agent="",
                    form=form,
                    wording="",
                )
            )


def _state(
    engine: Engine,
) -> tuple[dict[str, tuple[str, bool]], dict[str, list[str]], dict[str, str]]:
    """Kinds of every row, who is on what, and the repair's consent wording per person."""
    with database.session_factory(engine)() as s:
        kinds = {m.name: (m.kind, m.public) for m in s.scalars(select(MailingList))}
        on = {p.email: [m.name for m in people.subscribed_lists(s, p)] for p in people.search(s)}
        why = {
            p.email: e.wording
            for p in people.search(s)
            for e in s.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == p.id))
            if e.action == "join-default-list"
        }
    return kinds, on, why


def test_lists_become_lists_topics_become_topics_and_web_readers_join_the_default_list(
    old_engine: Engine,
) -> None:
    with old_engine.begin() as conn:
        _seed(
            conn,
            ["All briefings", "Members", "Ukraine", "Arms control"],
            {
                "topic-only@example.org": ("active", "web:confirm", {"Ukraine": True}),
                "nothing@example.org": ("active", "web:confirm", {}),
                "already@example.org": ("active", "web:confirm", {"All briefings": True}),
                "left@example.org": ("active", "web:confirm", {"All briefings": False}),
                "members@example.org": ("active", "web:confirm", {"Members": True}),
                "gone@example.org": ("unsubscribed", "web:confirm", {"Ukraine": True}),
                "staff@example.org": ("active", "", {"Arms control": True}),
            },
        )
        members = conn.scalar(select(OLD_LISTS.c.id).where(OLD_LISTS.c.name == "Members"))
        conn.execute(
            insert(Campaign).values(
                briefing_path="b.md",
                source_text="",
                subject="Members' news",
                list_id=members,
                status="finished",
            )
        )
    database.upgrade(old_engine)

    kinds, on, why = _state(old_engine)
    assert kinds == {
        "All briefings": ("list", True),
        "Members": ("list", True),  # a campaign went to it
        "Ukraine": ("topic", True),
        "Arms control": ("topic", True),
    }
    assert on["topic-only@example.org"] == ["All briefings", "Ukraine"]
    assert on["nothing@example.org"] == ["All briefings"]
    assert on["left@example.org"] == []  # took themselves off: left off
    assert on["members@example.org"] == ["Members"]
    assert on["gone@example.org"] == ["Ukraine"] and on["staff@example.org"] == ["Arms control"]
    assert set(why) == {"topic-only@example.org", "nothing@example.org"}
    assert all("confirmed a subscription on the web form" in w for w in why.values())
    with database.session_factory(old_engine)() as s:
        everyone = audience.resolve(s, "All briefings")
        assert audience.count(s, everyone) == 3  # topic-only, nothing, already


def test_a_missing_default_list_is_created_under_its_configured_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_DEFAULT_LIST", "Every briefing")
    engine = database.open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        command.downgrade(database.alembic_config(engine), "sub_0002")
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM lists"))
            _seed(
                conn,
                ["Ukraine"],
                {"reader@example.org": ("active", "web:confirm", {"Ukraine": True})},
            )
        database.upgrade(engine)
        kinds, on, why = _state(engine)
        assert kinds == {"Every briefing": ("list", True), "Ukraine": ("topic", True)}
        assert on["reader@example.org"] == ["Every briefing", "Ukraine"]
        assert "Joined Every briefing" in why["reader@example.org"]
    finally:
        engine.dispose()
