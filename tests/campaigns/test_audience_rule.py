"""Who may be mailed, checked end to end over random audiences.

For any mix of people, statuses, lists, topics and suppressions, the number the
preview shows, the rows the ledger snapshots and the copies the worker delivers are
the same, and they are exactly the people the written rule (docs/audience.md) names.
Changes made after the send started are honoured by the re-check before each copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns import manager
from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.models import CampaignRecipient
from newsletter.campaigns.states import RecipientState
from newsletter.config import Settings
from newsletter.mail.transports.memory import MemoryTransport
from subscribers import audience, consent, lists, people, suppression, topics
from subscribers.models import Status, Subscriber, Subscription
from subscribers.orm import Base, utcnow
from tests.campaigns.conftest import CLEAN_SOURCE
from tests.campaigns.test_worker import make_worker

LISTS = ("All briefings", "Members")
TOPICS = ("Ukraine", "Arms control")
STAFF = consent.Context(form="test")


@dataclass(frozen=True)
class Person:
    status: Status
    lists: dict[str, bool]  # a subscription row per list: subscribed or left
    topics: dict[str, bool]
    suppressed: bool


def _rows(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, bool]]:
    """Per name: subscribed (most often), left, or never a row at all."""
    each = st.sampled_from([True, True, True, False, None])
    return st.tuples(*(each for _ in names)).map(
        lambda got: {n: on for n, on in zip(names, got, strict=True) if on is not None}
    )


people_strategy = st.builds(  # weighted so that most examples mail somebody
    Person,
    status=st.sampled_from([Status.ACTIVE, Status.ACTIVE, Status.ACTIVE, *Status]),
    lists=_rows(LISTS),
    topics=_rows(TOPICS),
    suppressed=st.sampled_from([False, False, False, True]),
)


@dataclass(frozen=True)
class Later:
    """A change made after the send started, before the copies go out."""

    who: int
    what: str  # unsubscribe | suppress | leave-list | leave-topic | erase


later_strategy = st.builds(
    Later,
    who=st.integers(min_value=0, max_value=11),
    what=st.sampled_from(["unsubscribe", "suppress", "leave-list", "leave-topic", "erase"]),
)


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.dialect.name == "sqlite" and inspect(conn).has_table("sqlite_sequence"):
            conn.execute(text("DELETE FROM sqlite_sequence"))


def _may_be_mailed(person: Person, list_name: str, topic: str | None) -> bool:
    """The rule as docs/audience.md writes it, independently of the code under test."""
    return (
        person.status == Status.ACTIVE
        and person.lists.get(list_name, False)
        and (topic is None or person.topics.get(topic, False))
        and not person.suppressed
    )


def _seed(sessions: sessionmaker[Session], crowd: list[Person]) -> None:
    now = utcnow()
    with database.transaction(sessions) as s:
        rows = {n: lists.create(s, n) for n in LISTS}
        rows |= {n: topics.create(s, n) for n in TOPICS}
        for n, person in enumerate(crowd):
            key = f"reader{n}@example.net"
            who = Subscriber(
                email=key,
                email_key=key,
                status=person.status,
                source="test",
                created_at=now,
                updated_at=now,
            )
            s.add(who)
            s.flush()
            for name, on in [*person.lists.items(), *person.topics.items()]:
                s.add(Subscription(subscriber_id=who.id, list_id=rows[name].id, subscribed=on))
            if person.suppressed:
                suppression.suppress(s, key, suppression.STAFF)


def _apply(sessions: sessionmaker[Session], crowd: list[Person], change: Later) -> list[Person]:
    """Make ``change`` in the database and return the crowd as it now is."""
    if change.who >= len(crowd):
        return crowd
    person, key = crowd[change.who], f"reader{change.who}@example.net"
    with database.transaction(sessions) as s:
        found = people.find(s, key)
        if found is None:  # erased by an earlier change
            return crowd
        if change.what == "unsubscribe":
            people.unsubscribe(s, found, STAFF)
            status = person.status if person.status != Status.ACTIVE else Status.UNSUBSCRIBED
            after = Person(status, person.lists, person.topics, True)
        elif change.what == "suppress":
            suppression.suppress(s, key, suppression.STAFF)
            after = Person(person.status, person.lists, person.topics, True)
        elif change.what == "erase":
            people.erase(s, key, STAFF)
            after = Person(Status.UNSUBSCRIBED, {}, {}, True)
        else:
            names = LISTS if change.what == "leave-list" else TOPICS
            for name in names:
                people.leave_list(s, found, lists.get(s, name), STAFF)
            gone = dict.fromkeys(person.lists if change.what == "leave-list" else (), False)
            left = dict.fromkeys(person.topics if change.what == "leave-topic" else (), False)
            after = Person(
                person.status,
                {**person.lists, **gone},
                {**person.topics, **left},
                person.suppressed,
            )
    return [after if n == change.who else p for n, p in enumerate(crowd)]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    crowd=st.lists(people_strategy, min_size=3, max_size=12),
    list_name=st.sampled_from(LISTS),
    topic=st.sampled_from([None, *TOPICS]),
    changes=st.lists(later_strategy, max_size=3),
)
def test_preview_count_equals_ledger_rows_equals_copies_delivered(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    crowd: list[Person],
    list_name: str,
    topic: str | None,
    changes: list[Later],
) -> None:
    _empty(engine)
    _seed(sessions, crowd)
    expected = {
        f"reader{n}@example.net" for n, p in enumerate(crowd) if _may_be_mailed(p, list_name, topic)
    }
    with database.transaction(sessions) as s:
        campaign = manager.create(
            s,
            briefing_path=Path("b.md"),
            source_text=CLEAN_SOURCE,
            slug="b",
            subject="Briefing",
            list_ref=list_name,
            topic=topic,
        )
        cid = campaign.id
        preview = audience.count(s, audience.Audience(campaign.list_id, campaign.topic_list_id))
        counts = audience.counts(s)
        the_list = lists.get(s, list_name)
        manager.schedule(s, cid)
    assert preview == len(expected)
    if topic is None:  # the lists table counts what a send to the list would reach
        assert counts.get(the_list.id, 0) == preview

    assert Ledger(engine).start(cid)
    with sessions() as s:
        snapshot = s.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == cid)
        )
    assert snapshot == preview

    for change in changes:
        crowd = _apply(sessions, crowd, change)
    still = {
        f"reader{n}@example.net" for n, p in enumerate(crowd) if _may_be_mailed(p, list_name, topic)
    }
    memory = MemoryTransport()
    make_worker(engine, sessions, campaign_settings, memory).run(once=True, campaign_ids=[cid])
    delivered = [sent.recipient for sent in memory.sent]
    assert sorted(delivered) == sorted(expected & still)
    if not changes:
        assert len(delivered) == preview == snapshot
    with sessions() as s:
        states = dict(
            s.execute(
                select(CampaignRecipient.email, CampaignRecipient.state).where(
                    CampaignRecipient.campaign_id == cid
                )
            ).all()
        )
    assert {e for e, state in states.items() if state == RecipientState.SENT} == expected & still
    assert all(state == RecipientState.SKIPPED for e, state in states.items() if e not in still)
