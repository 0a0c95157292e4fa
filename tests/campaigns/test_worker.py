"""The ledger and the worker against both databases, with the in-memory transport.

Each test reads what a member of staff would: who got a copy, what each ledger row
says, what ``campaign status`` would count, and whether an address was suppressed.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns import composer, manager, verp
from newsletter.campaigns.bounces import process
from newsletter.campaigns.ledger import Claimed, Ledger
from newsletter.campaigns.models import BounceEvent, CampaignRecipient
from newsletter.campaigns.progress import BatchReport
from newsletter.campaigns.retry import RetryPolicy
from newsletter.campaigns.states import CampaignStatus, RecipientState
from newsletter.campaigns.worker import Worker
from newsletter.config import Settings
from newsletter.mail.transports.base import DeliveryStatus, TransportRejected, TransportUnavailable
from newsletter.mail.transports.memory import MemoryTransport
from subscribers import people, suppression
from subscribers.consent import Context
from subscribers.models import Status, Subscriber
from subscribers.orm import utcnow
from tests.campaigns.conftest import new_campaign, seed_audience, sending_campaign, start_campaign


def make_worker(
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    transport: MemoryTransport,
    **options: object,
) -> Worker:
    def sink(campaign_id, failures):
        with database.transaction(sessions) as session:
            process.apply(session, settings, process.events_from_smtp(campaign_id, failures))

    defaults: dict[str, object] = {
        "batch": 10,
        "retry": RetryPolicy(limit=3, delay=0.0),
        "bounce_sink": sink,
        "poll_seconds": 0.01,
    }
    defaults.update(options)
    return Worker(
        Ledger(engine),
        composer_for=lambda cid: composer.for_campaign(settings, sessions, cid, None),
        transport_factory=lambda: transport,
        **defaults,  # type: ignore[arg-type]
    )


def rows(sessions: sessionmaker[Session], campaign_id: int) -> list[CampaignRecipient]:
    with sessions() as session:
        return list(
            session.scalars(
                select(CampaignRecipient)
                .where(CampaignRecipient.campaign_id == campaign_id)
                .order_by(CampaignRecipient.id)
            )
        )


def test_every_recipient_gets_one_personal_copy_and_the_campaign_finishes(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    ids = seed_audience(engine, 25)
    cid = new_campaign(sessions)
    start_campaign(sessions, cid)
    memory = MemoryTransport()
    stats = make_worker(engine, sessions, campaign_settings, memory).run(once=True)

    assert stats.sent == 25
    assert sorted(s.recipient for s in memory.sent) == sorted(f"reader{i}@example.net" for i in ids)
    first = memory.sent[0]
    parsed = email.message_from_bytes(first.message, policy=email.policy.default)
    sid = ids[0]
    assert parsed["Message-ID"] == verp.message_id(campaign_settings, cid, sid)
    assert first.sender == verp.return_path(campaign_settings, cid, sid)
    assert parsed["Subject"] == "Briefing 112: Foreign ministers"
    assert all(r.state == RecipientState.SENT and r.message_id for r in rows(sessions, cid))
    with sessions() as session:
        report = manager.report(session, cid)
    assert report.campaign.status == CampaignStatus.FINISHED
    assert report.counts[RecipientState.SENT] == 25 and report.remaining == 0


def test_only_active_list_members_are_in_the_snapshot(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    ids = seed_audience(engine, 4)
    seed_audience(engine, 3, list_name="Ukraine")
    with database.transaction(sessions) as session:
        session.execute(
            update(Subscriber).where(Subscriber.id == ids[0]).values(status=Status.UNSUBSCRIBED)
        )
    cid = new_campaign(sessions)
    start_campaign(sessions, cid)
    assert Ledger(engine).start_due() == [cid]
    assert [r.subscriber_id for r in rows(sessions, cid)] == ids[1:]


def test_temporary_failures_are_retried_then_given_up(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    cid = sending_campaign(engine, sessions, 5)
    memory = MemoryTransport()
    memory.answer("reader2@example.net", DeliveryStatus.TRANSIENT, 452, "4.2.2 Mailbox busy")
    make_worker(engine, sessions, campaign_settings, memory).run(once=True)

    by_email = {r.email: r for r in rows(sessions, cid)}
    stuck = by_email["reader2@example.net"]
    assert stuck.state == RecipientState.FAILED
    assert stuck.attempts == 3  # the retry limit
    assert stuck.last_code == 452 and "gave up" in stuck.last_reply
    assert sum(r.state == RecipientState.SENT for r in by_email.values()) == 4
    with sessions() as session:
        assert manager.get(session, cid).status == CampaignStatus.FINISHED
        # A temporary failure is never blamed on the address.
        assert session.get(Subscriber, stuck.subscriber_id).status == Status.ACTIVE  # type: ignore[union-attr]


def test_deferred_rows_wait_for_their_retry_time(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    cid = sending_campaign(engine, sessions, 3)
    memory = MemoryTransport()
    memory.answer("reader1@example.net", DeliveryStatus.TRANSIENT)
    worker = make_worker(
        engine, sessions, campaign_settings, memory, retry=RetryPolicy(limit=5, delay=600)
    )
    worker.run(once=True)
    deferred = [r for r in rows(sessions, cid) if r.state == RecipientState.DEFERRED]
    assert [r.email for r in deferred] == ["reader1@example.net"]
    assert deferred[0].next_attempt_at is not None
    assert deferred[0].next_attempt_at > utcnow() + timedelta(seconds=200)
    with sessions() as session:
        assert manager.get(session, cid).status == CampaignStatus.SENDING  # not settled yet


def test_a_permanent_refusal_fails_the_row_and_suppresses_the_address(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    cid = sending_campaign(engine, sessions, 4)
    memory = MemoryTransport()
    memory.answer("reader3@example.net", DeliveryStatus.PERMANENT, 550, "5.1.1 User unknown")
    make_worker(engine, sessions, campaign_settings, memory).run(once=True)

    failed = [r for r in rows(sessions, cid) if r.state == RecipientState.FAILED]
    assert [(r.email, r.last_code) for r in failed] == [("reader3@example.net", 550)]
    with sessions() as session:
        person = session.get(Subscriber, failed[0].subscriber_id)
        assert person is not None and person.status == Status.BOUNCED
        entry = suppression.find(session, "reader3@example.net")
        assert entry is not None and entry.reason == suppression.HARD_BOUNCE
        assert "550" in entry.evidence
        assert session.scalar(select(BounceEvent.kind)) == "hard"


def test_a_relay_refusing_us_stops_the_campaign_without_blaming_addresses(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    cid = sending_campaign(engine, sessions, 12)
    memory = MemoryTransport()
    memory.failure = TransportRejected("535 5.7.8 Authentication credentials invalid")
    stats = make_worker(engine, sessions, campaign_settings, memory).run(once=True)

    assert stats.stopped_campaigns == [cid]
    with sessions() as session:
        report = manager.report(session, cid)
        assert session.scalar(select(BounceEvent.id)) is None
    assert report.campaign.status == CampaignStatus.STOPPED
    assert "535" in report.campaign.stop_reason
    assert report.counts[RecipientState.FAILED] == 0
    assert report.counts[RecipientState.QUEUED] == 12

    memory.failure = None
    with database.transaction(sessions) as session:
        manager.resume(session, cid)
    make_worker(engine, sessions, campaign_settings, memory).run(once=True)
    assert len(memory.sent) == 12
    assert all(r.state == RecipientState.SENT and r.attempts == 1 for r in rows(sessions, cid))


def test_an_unreachable_server_defers_instead_of_failing(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    seed_audience(engine, 30)  # three batches of 10
    cid = new_campaign(sessions)
    start_campaign(sessions, cid)
    memory = MemoryTransport()
    memory.failure = TransportUnavailable("connection refused")
    worker = make_worker(
        engine, sessions, campaign_settings, memory, retry=RetryPolicy(limit=5, delay=30)
    )
    worker.run(once=True)
    states = [r.state for r in rows(sessions, cid)]
    assert RecipientState.FAILED not in states and RecipientState.SENT not in states
    assert set(states) <= {RecipientState.DEFERRED, RecipientState.QUEUED}
    assert memory.attempts == 1  # backed off after the first refusal, not one try per batch
    assert all("unavailable" in r.last_reply for r in rows(sessions, cid) if r.state == "deferred")


@pytest.mark.parametrize(
    "leaving",
    [
        "reader25@example.net",  # in a batch claimed later
        "reader15@example.net",  # in the next batch, claimed while the first one was sending
    ],
)
def test_unsubscribe_during_a_send_is_honoured_for_the_rest(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings, leaving: str
) -> None:
    """Whoever leaves after the first batch is skipped, even if their row was already claimed."""
    cid = sending_campaign(engine, sessions, 30)
    memory = MemoryTransport()

    def after_first_batch(report: BatchReport) -> None:
        with database.transaction(sessions) as session:
            person = people.find(session, leaving)
            if person is not None and person.status == Status.ACTIVE:
                people.unsubscribe(session, person, Context(form="one-click"))

    make_worker(engine, sessions, campaign_settings, memory, on_batch=after_first_batch).run(
        once=True
    )
    assert memory.to(leaving) == []
    assert len(memory.sent) == 29
    row = next(r for r in rows(sessions, cid) if r.email == leaving)
    assert row.state == RecipientState.SKIPPED and "unsubscribed" in row.last_reply


@pytest.mark.parametrize(
    ("event", "reason"),
    [("bounced", "subscriber is now bounced"), ("suppressed", "address is suppressed")],
)
def test_a_bounce_or_suppression_during_a_send_is_honoured_for_the_rest(
    engine: Engine,
    sessions: sessionmaker[Session],
    campaign_settings: Settings,
    event: str,
    reason: str,
) -> None:
    cid = sending_campaign(engine, sessions, 30)
    memory = MemoryTransport()
    leaving = "reader25@example.net"

    def after_first_batch(report: BatchReport) -> None:
        with database.transaction(sessions) as session:
            person = people.find(session, leaving)
            assert person is not None
            if event == "bounced":
                people.mark(session, person, Status.BOUNCED, "550 5.1.1 no such user")
            else:  # a second call keeps the first entry
                suppression.suppress(session, person.email_key, "manual")

    make_worker(engine, sessions, campaign_settings, memory, on_batch=after_first_batch).run(
        once=True
    )
    assert memory.to(leaving) == []
    assert len(memory.sent) == 29
    row = next(r for r in rows(sessions, cid) if r.email == leaving)
    assert row.state == RecipientState.SKIPPED and reason in row.last_reply


def test_a_batch_slower_than_its_lease_is_not_taken_over_while_it_is_sent(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    """A slow server holds each batch (and the next one, claimed early) longer than a
    lease: the live worker renews its leases, so two workers still mail each person
    once."""
    cid = sending_campaign(engine, sessions, 24)
    memory = MemoryTransport()
    lock = threading.Lock()
    original_send = memory.send

    def slow_send(sender: str, recipient: str, message: bytes):
        time.sleep(0.12)  # 4 copies: 0.48 s a batch, against a lease of 0.3 s
        with lock:
            return original_send(sender, recipient, message)

    memory.send = slow_send  # type: ignore[method-assign]
    workers = [
        make_worker(
            engine, sessions, campaign_settings, memory, owner=name, batch=4, lease_seconds=0.3
        )
        for name in ("A", "B")
    ]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = Counter(m.recipient for m in memory.sent)
    assert len(sent) == 24 and set(sent.values()) == {1}
    assert all(r.state == RecipientState.SENT for r in rows(sessions, cid))


def test_a_stop_request_releases_the_rest_and_a_later_run_finishes_without_duplicates(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    cid = sending_campaign(engine, sessions, 20)
    memory = MemoryTransport()
    stop = threading.Event()
    original_send = memory.send

    def send_then_stop(sender: str, recipient: str, message: bytes):
        result = original_send(sender, recipient, message)
        if len(memory.sent) == 5:
            stop.set()  # as SIGTERM would, while a batch of 10 is in flight
        return result

    memory.send = send_then_stop  # type: ignore[method-assign]
    make_worker(engine, sessions, campaign_settings, memory, stop=stop).run(once=True)
    assert len(memory.sent) == 5
    states = [r.state for r in rows(sessions, cid)]
    assert states.count(RecipientState.SENT) == 5
    assert states.count(RecipientState.QUEUED) == 15  # given back, not left "sending"

    make_worker(engine, sessions, campaign_settings, memory).run(once=True)
    assert sorted(s.recipient for s in memory.sent) == sorted(
        f"reader{i}@example.net" for i in range(1, 21)
    )


def test_rows_of_a_dead_worker_are_taken_over_after_the_lease(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    cid = sending_campaign(engine, sessions, 8)
    ledger = Ledger(engine)
    ledger.start_due()
    held = ledger.claim(cid, "dead-worker", batch=5, lease_seconds=300)
    assert len(held) == 5
    # Another worker cannot take them while the lease runs...
    assert [r.id for r in ledger.claim(cid, "other", batch=10, lease_seconds=900)] == [
        r.id for r in rows(sessions, cid)[5:]
    ]
    # ...but can once it has expired.
    later = utcnow() + timedelta(seconds=301)
    taken = ledger.claim(cid, "other", batch=10, lease_seconds=300, now=later)
    assert [r.id for r in taken] == [r.id for r in held]
    # The dead worker's late result is ignored: the row belongs to "other" now.
    assert ledger.settle("dead-worker", []) == 0


def test_pause_resume_cancel_follow_the_rules(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    seed_audience(engine, 5)
    cid = new_campaign(sessions)
    with database.transaction(sessions) as session, pytest.raises(manager.CampaignStateError):
        manager.resume(session, cid)  # a draft was never paused
    start_campaign(sessions, cid)
    Ledger(engine).start_due()
    with database.transaction(sessions) as session:
        manager.pause(session, cid)
    memory = MemoryTransport()
    make_worker(engine, sessions, campaign_settings, memory).run(once=True)
    assert memory.sent == []  # paused: nothing goes
    with database.transaction(sessions) as session:
        manager.cancel(session, cid)
    with sessions() as session:
        report = manager.report(session, cid)
    assert report.campaign.status == CampaignStatus.CANCELLED
    assert report.counts[RecipientState.SKIPPED] == 5
    with database.transaction(sessions) as session, pytest.raises(manager.CampaignStateError):
        manager.resume(session, cid)


def test_several_connections_send_each_recipient_once(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    sending_campaign(engine, sessions, 40)
    memory = MemoryTransport()
    stats = make_worker(engine, sessions, campaign_settings, memory, connections=3).run(once=True)
    assert stats.sent == 40
    assert sorted(s.recipient for s in memory.sent) == sorted(
        f"reader{i}@example.net" for i in range(1, 41)
    )


class _CountingLedger(Ledger):
    """Counts the reads the worker makes of a campaign's status and of who may be mailed."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.reads: Counter[str] = Counter()

    def status(self, campaign_id: int) -> str:
        self.reads["status"] += 1
        return super().status(campaign_id)

    def blocked(self, campaign_id: int, rows: Sequence[Claimed]) -> dict[int, str]:
        self.reads["blocked"] += 1
        return super().blocked(campaign_id, rows)


def test_status_and_audience_are_read_once_a_batch(
    engine: Engine, sessions: sessionmaker[Session], campaign_settings: Settings
) -> None:
    """Right before a batch goes, and only then: a pause or an unsubscribe made while the
    batch before it was on the wire is still honoured, without a second round trip."""
    sending_campaign(engine, sessions, 25)
    ledger = _CountingLedger(engine)
    memory = MemoryTransport()
    worker = Worker(
        ledger,
        composer_for=lambda cid: composer.for_campaign(campaign_settings, sessions, cid, None),
        transport_factory=lambda: memory,
        batch=10,
        poll_seconds=0.01,
    )
    stats = worker.run(once=True)
    assert stats.sent == 25
    assert stats.batches == 3
    assert ledger.reads == {"status": 3, "blocked": 3}
