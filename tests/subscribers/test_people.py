"""People, lists, consent and suppression on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.database import transaction
from subscribers import consent, exporter, lists, optin, people, suppression, topics
from subscribers.errors import Conflict, NotFound
from subscribers.models import ConsentEvent, Status, Subscriber, Subscription
from subscribers.orm import utcnow

STAFF = consent.Context(form="cli:test", wording="added in a test")
WEB = consent.Context(
    form="web:subscribe", wording="I want briefings", ip="192.0.2.7", user_agent="Firefox"
)


def test_an_address_is_one_person_whatever_its_case(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        people.add(s, "Ann.Smith@Example.org", STAFF, name="Ann", topics=["Ukraine"])
    with transaction(sessions) as s:
        person = people.find(s, "ANN.SMITH@example.ORG")
        assert person is not None and person.email == "Ann.Smith@example.org"
        assert [m.name for m in people.subscribed_lists(s, person)] == ["Ukraine"]
        with pytest.raises(Conflict):
            people.add(s, "ann.smith@EXAMPLE.org", STAFF)


def test_unsubscribing_suppresses_and_logs_consent(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        person = people.add(s, "bob@example.org", STAFF)
        assert people.unsubscribe(s, person, WEB)
        assert not people.unsubscribe(s, person, WEB)  # twice is harmless
    with transaction(sessions) as s:
        person = people.lookup(s, "bob@example.org")
        assert person.status == Status.UNSUBSCRIBED
        entry = suppression.find(s, person.email_key)
        assert entry is not None and entry.reason == suppression.UNSUBSCRIBED
        actions = [e.action for e in consent.history(s, person.id)]
        assert actions == [consent.STAFF_ADD, consent.UNSUBSCRIBE]
        with pytest.raises(Conflict):
            people.add(s, "BOB@example.org", STAFF)


def test_a_batch_of_unsubscribes_changes_each_person_once(
    sessions: sessionmaker[Session],
) -> None:
    """What a group of one-click requests written together does: the first request for a
    person unsubscribes them, repeats change nothing, a bounced address logs the
    withdrawal without changing status, and an unknown id is told apart."""
    with transaction(sessions) as s:
        active = people.add(s, "active@example.org", STAFF).id
        pending = people.add(s, "pending@example.org", STAFF, status=Status.PENDING).id
        bounced = people.add(s, "bounced@example.org", STAFF, status=Status.BOUNCED).id
        gone = people.add(s, "gone@example.org", STAFF).id
        people.remove(s, people.get(s, gone))
    first, again = (consent.Context(form="one-click", ip=ip) for ip in ("192.0.2.1", "192.0.2.2"))
    batch = [
        people.Leaving(active, first),
        people.Leaving(pending, first),
        people.Leaving(active, again),
        people.Leaving(bounced, first),
        people.Leaving(gone, first),
    ]
    with transaction(sessions) as s:
        assert people.unsubscribe_all(s, batch) == [True, True, False, False, None]
    with transaction(sessions) as s:
        assert people.unsubscribe_all(s, batch[:2]) == [False, False]
    with transaction(sessions) as s:
        for sid, status in ((active, Status.UNSUBSCRIBED), (bounced, Status.BOUNCED)):
            person = people.get(s, sid)
            assert person.status == status and suppression.is_suppressed(s, person.email_key)
            events = [e for e in consent.history(s, sid) if e.action == consent.UNSUBSCRIBE]
            assert [e.ip for e in events] == ["192.0.2.1"]
        assert people.get(s, pending).status == Status.UNSUBSCRIBED


def test_erasure_removes_personal_data_but_keeps_the_suppression(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        person = people.add(s, "carol@example.org", STAFF, name="Carol", topics=["Ukraine"])
        consent.record(s, person.id, consent.PREFERENCES, WEB, ["Ukraine"])
    with transaction(sessions) as s:
        assert people.erase(s, "Carol@example.org", STAFF)
    with transaction(sessions) as s:
        assert people.find(s, "carol@example.org") is None
        assert s.scalar(select(func.count()).select_from(Subscription)) == 0
        leftovers = s.scalars(select(ConsentEvent)).all()
        assert leftovers and all(
            e.subscriber_id is None and not e.ip and not e.user_agent for e in leftovers
        )
        entry = suppression.find(s, "carol@example.org")
        assert entry is not None and entry.reason == suppression.ERASED
        record = exporter.person_record(s, "carol@example.org")
        assert record["subscriber"] is None and record["suppressed"]["reason"] == "erased"
        with pytest.raises(Conflict, match="suppressed"):
            people.add(s, "carol@example.org", STAFF)


def test_erasing_an_unknown_address_suppresses_it_in_advance(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        assert not people.erase(s, "dave@example.org", STAFF)
        assert suppression.is_suppressed(s, "dave@example.org")


def test_double_opt_in(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        ukraine = topics.create(s, "Ukraine")
        outcome = optin.request_subscription(
            s, "eve@example.org", WEB, name="Eve", topics=[ukraine]
        )
        assert outcome.send_confirmation and outcome.subscriber is not None
        sid = outcome.subscriber.id
        assert outcome.subscriber.status == Status.PENDING
    with transaction(sessions) as s:
        person = optin.confirm(s, sid, WEB, issued_at=utcnow())
        assert person.status == Status.ACTIVE and person.confirmed_at is not None
        # an active person asking again gets no mail and no change
        again = optin.request_subscription(s, "EVE@example.org", WEB, name="Mallory", topics=[])
        assert not again.send_confirmation
        assert person.name == "Eve"
        assert [m.name for m in people.subscribed_lists(s, person)] == ["Ukraine"]
        event = consent.history(s, sid)[-1]
        assert (event.action, event.ip, event.user_agent, event.lists) == (
            consent.CONFIRM,
            "192.0.2.7",
            "Firefox",
            ["Ukraine"],
        )


def test_a_confirmation_link_older_than_an_unsubscribe_cannot_bring_someone_back(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        sid = optin.request_subscription(s, "fay@example.org", WEB).subscriber.id  # type: ignore[union-attr]
    issued = utcnow()
    with transaction(sessions) as s:
        optin.confirm(s, sid, WEB, issued_at=issued)
        people.unsubscribe(s, people.get(s, sid), WEB)
    with transaction(sessions) as s, pytest.raises(Conflict):
        optin.confirm(s, sid, WEB, issued_at=issued - timedelta(seconds=1))
    with transaction(sessions) as s:  # subscribing again sends a new link, which works
        ukraine = topics.ensure(s, "Ukraine")
        assert optin.request_subscription(
            s, "fay@example.org", WEB, topics=[ukraine]
        ).send_confirmation
    with transaction(sessions) as s:
        assert (
            optin.confirm(s, sid, WEB, issued_at=utcnow() + timedelta(seconds=1)).status
            == Status.ACTIVE
        )
        assert not suppression.is_suppressed(s, "fay@example.org")
        assert [m.name for m in people.subscribed_lists(s, people.get(s, sid))] == ["Ukraine"]


def test_a_bounced_reader_comes_back_by_confirming_again(
    sessions: sessionmaker[Session],
) -> None:
    """A full mailbox suppresses at once; the reader's own confirmation lifts it."""
    with transaction(sessions) as s:
        person = people.add(s, "joy@example.org", STAFF)
        people.mark(s, person, Status.BOUNCED, "552 5.2.2 mailbox full")
        assert suppression.is_suppressed(s, "joy@example.org")
        assert optin.request_subscription(s, "joy@example.org", WEB).send_confirmation
        assert person.status == Status.BOUNCED  # nothing is sent until they confirm
        assert suppression.is_suppressed(s, "joy@example.org")
    with transaction(sessions) as s:
        assert optin.confirm(s, person.id, WEB).status == Status.ACTIVE
        assert not suppression.is_suppressed(s, "joy@example.org")


def test_complained_addresses_get_no_confirmation(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        person = people.add(s, "gus@example.org", STAFF)
        people.mark(s, person, Status.COMPLAINED, "ARF report")
        assert not optin.request_subscription(s, "gus@example.org", WEB).send_confirmation
        with pytest.raises(Conflict):
            optin.confirm(s, person.id, WEB)
        people.reactivate(s, person, STAFF)
        assert person.status == Status.ACTIVE and not suppression.is_suppressed(
            s, "gus@example.org"
        )


def test_lists_create_rename_archive(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        nuclear = topics.create(s, "Nuclear weapons")
        assert nuclear.slug == "nuclear-weapons"
        with pytest.raises(Conflict):
            lists.create(s, "nuclear WEAPONS")
        with pytest.raises(Conflict):
            lists.create(s, "  !!  ")
        lists.rename(s, "nuclear-weapons", "Nuclear arms")
        assert lists.get(s, "NUCLEAR ARMS").id == nuclear.id
        lists.archive(s, "Nuclear arms")
        assert lists.all_lists(s) == []
        with pytest.raises(NotFound):
            lists.get(s, "Ukraine")


def test_preferences_leave_archived_lists_alone(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        person = people.add(s, "hal@example.org", STAFF, topics=["Old topic", "Ukraine"])
        lists.archive(s, "Old topic")
        assert people.update(s, person, WEB, name="Hal", topics=[])
        assert [m.name for m in people.subscribed_lists(s, person)] == ["Old topic"]
        assert person.name == "Hal"


def test_person_record_holds_everything(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        person = people.add(s, "ida@example.org", STAFF, name="Ida", topics=["Ukraine"])
        people.update(s, person, WEB, language="fr")
    with transaction(sessions) as s:
        record = exporter.person_record(s, "IDA@example.org")
    assert record["subscriber"]["name"] == "Ida" and record["subscriber"]["language"] == "fr"
    assert record["subscriptions"][0]["list"] == "Ukraine"
    assert [e["action"] for e in record["consent"]] == [consent.STAFF_ADD]
    assert record["suppressed"] is None


def test_search_filters(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        people.add(s, "jo@example.org", STAFF, name="Jo March", topics=["Ukraine"])
        people.add(s, "amy@example.org", STAFF, name="Amy", status=Status.PENDING)
        ukraine = lists.get(s, "ukraine")
        assert [p.email for p in people.search(s, topic=ukraine)] == ["jo@example.org"]
        assert [p.email for p in people.search(s, status=Status.PENDING)] == ["amy@example.org"]
        assert [p.email for p in people.search(s, text="MARCH")] == ["jo@example.org"]
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 2
