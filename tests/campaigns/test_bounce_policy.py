"""The suppression policy on both databases: who is suppressed, why, and how it is reversed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.campaigns.bounces import parse, process
from newsletter.campaigns.models import BounceEvent, Campaign, CampaignRecipient
from newsletter.campaigns.states import BounceKind
from newsletter.config import Settings
from subscribers import people, suppression
from subscribers.consent import Context
from subscribers.models import MailingList, Status, Subscriber
from subscribers.orm import utcnow
from tests.conftest import FIXTURE_SECRET


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The sample mails' tokens were signed with ``FIXTURE_SECRET``."""
    return settings.model_copy(update={"secret_key": SecretStr(FIXTURE_SECRET)})


FIXTURES = Path(__file__).parent / "fixtures"
PEOPLE = {
    101: "ann@mail.example.net",
    102: "bob@mail.example.net",
    103: "carol@slow.example.net",
    104: "dave@full.example.com",
    105: "erin@gone.example.com",
    106: "frank.nobody@gmail.com",
    107: "grace@outlook.com",
    108: "heidi@hotmail.com",
    109: "ivan@isp.example.com",
}


def _setup(sessions: sessionmaker[Session]) -> None:
    """The campaign (7) and subscribers (101-109) the sample bounces were written for."""
    now = utcnow()
    with database.transaction(sessions) as session:
        listed = MailingList(slug="all", name="All", description="", archived=False)
        session.add(listed)
        session.flush()
        for sid, address in PEOPLE.items():
            session.add(
                Subscriber(
                    id=sid, email=address, email_key=address, name="", status=Status.ACTIVE,
                    language="en", source="test", created_at=now, updated_at=now,
                )
            )  # fmt: skip
        session.add(
            Campaign(
                id=7, briefing_path="b.md", briefing_slug="b", source_text="", subject="s",
                list_id=listed.id, status="finished", stop_reason="", lint_override=False, total=9,
            )
        )  # fmt: skip


def _process_all(sessions: sessionmaker[Session], settings: Settings) -> process.Summary:
    total = process.Summary()
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        events = process.events_from_report(settings, parse.parse(raw), raw)
        with database.transaction(sessions) as session:
            done = process.apply(session, settings, events)
        total.events.update(done.events)
        total.duplicates += done.duplicates
        total.suppressed.extend(done.suppressed)
    return total


def _status(sessions: sessionmaker[Session], sid: int) -> str:
    with sessions() as session:
        person = session.get(Subscriber, sid)
        assert person is not None
        return person.status


def test_samples_suppress_exactly_whom_the_policy_says(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _setup(sessions)
    summary = _process_all(sessions, settings)
    hard = {101, 102, 104, 105, 106, 108}  # 104: 552 5.2.2, a mailbox full for good
    complained = {103, 109}
    for sid in hard:
        assert _status(sessions, sid) == Status.BOUNCED
    for sid in complained:
        assert _status(sessions, sid) == Status.COMPLAINED
    # Blocked our IP, then a DMARC failure report about our mail: not the address's fault.
    assert _status(sessions, 107) == Status.ACTIVE
    assert len(summary.suppressed) == len(hard | complained)
    with sessions() as session:
        entry = suppression.find(session, PEOPLE[102])
        assert entry is not None and entry.reason == suppression.HARD_BOUNCE
        assert "5.1.1" in entry.evidence and "User unknown" in entry.evidence
        complaint = suppression.find(session, PEOPLE[109])
        assert complaint is not None and complaint.reason == suppression.COMPLAINT
        # The delay warning and the out-of-office reply are kept, as what they are.
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 13
        noted = session.execute(
            select(BounceEvent.subscriber_id, BounceEvent.kind).where(
                BounceEvent.kind.in_([BounceKind.DELAYED, BounceKind.AUTO_REPLY])
            )
        )
        assert sorted(noted) == [(101, BounceKind.AUTO_REPLY), (103, BounceKind.DELAYED)]

    again = _process_all(sessions, settings)
    assert again.duplicates == 13 and not again.suppressed and not again.events


def _soft(sid: int, n: int) -> process.Event:
    return process.Event(
        BounceKind.SOFT, PEOPLE[sid], sid, None, "4.2.2", "mailbox full", "dsn",
        f"test soft bounce {n}", f"soft-{sid}-{n}",
    )  # fmt: skip


def test_soft_bounces_count_only_within_the_window(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _setup(sessions)
    now = utcnow()
    old = now - timedelta(days=settings.soft_bounce_window_days + 1)
    with database.transaction(sessions) as session:
        process.apply(session, settings, [_soft(104, 1), _soft(104, 2)], now=old)
        process.apply(session, settings, [_soft(104, 3)], now=now)
    assert _status(sessions, 104) == Status.ACTIVE

    with database.transaction(sessions) as session:
        summary = process.apply(session, settings, [_soft(104, 4), _soft(104, 5)], now=now)
    assert summary.suppressed == [(PEOPLE[104], process.SOFT_BOUNCE)]
    assert _status(sessions, 104) == Status.BOUNCED


def test_a_monthly_reader_whose_last_briefings_all_bounced_soft_is_suppressed(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """Three soft bounces a month apart never fit 30 days; the reader's last three sends do."""
    _setup(sessions)
    now = utcnow()
    sends = [now - timedelta(days=30 * months_ago) for months_ago in (3, 2, 1, 0)]
    with database.transaction(sessions) as session:
        listed = session.scalars(select(MailingList)).one()
        for n, sent in enumerate(sends):
            session.add(
                Campaign(
                    id=20 + n, briefing_path="b.md", briefing_slug=f"b{n}", source_text="",
                    subject="s", list_id=listed.id, status="finished", stop_reason="",
                    lint_override=False, total=2,
                )
            )  # fmt: skip
            session.flush()
            for sid in (104, 105):
                session.add(
                    CampaignRecipient(
                        campaign_id=20 + n, subscriber_id=sid, email=PEOPLE[sid], state="sent",
                        sent_at=sent,
                    )
                )  # fmt: skip

    def bounce(sid: int, send: int) -> process.Summary:
        with database.transaction(sessions) as session:
            event = _soft(sid, send)
            return process.apply(session, settings, [event], now=sends[send] + timedelta(hours=2))

    # 104: the first two briefings bounced, the third arrived, the fourth bounced: only two
    # of the last three sends bounced, so the reader stays.
    for send in (0, 1, 3):
        assert not bounce(104, send).suppressed
    assert _status(sessions, 104) == Status.ACTIVE
    # 105: the last three briefings in a row bounced: suppressed at the third.
    assert not bounce(105, 1).suppressed
    assert not bounce(105, 2).suppressed
    assert bounce(105, 3).suppressed == [(PEOPLE[105], process.SOFT_BOUNCE)]


def test_reactivation_lifts_the_suppression_and_starts_a_clean_slate(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _setup(sessions)
    cfg = settings.model_copy(update={"soft_bounce_limit": 2})
    with database.transaction(sessions) as session:
        process.apply(session, cfg, [_soft(104, 1), _soft(104, 2)])
    assert _status(sessions, 104) == Status.BOUNCED

    with database.transaction(sessions) as session:
        person = session.get(Subscriber, 104)
        assert person is not None
        people.reactivate(session, person, Context(form="cli", wording="staff reactivated"))
    with database.transaction(sessions) as session:
        assert not suppression.is_suppressed(session, PEOPLE[104])
        process.apply(session, cfg, [_soft(104, 3)], now=utcnow() + timedelta(seconds=1))
    assert _status(sessions, 104) == Status.ACTIVE  # the two old bounces no longer count


def _forged_complaint(address: str) -> bytes:
    """An abuse report that names a subscriber but carries none of our tokens."""
    return (
        "From: abuse@evil.example.com\r\nTo: abuse@example.org\r\n"
        "Message-ID: <forged-arf@evil.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nVersion: 1\r\nOriginal-Rcpt-To: <{address}>\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: briefings@example.org\r\nTo: {address}\r\n"
        "Message-ID: <c7.s102.aaaaaaaaaaaaaaaa@example.org>\r\n\r\n--b--\r\n"
    ).encode()


def test_forged_reports_naming_a_subscriber_suppress_nobody(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _setup(sessions)
    cfg = settings.model_copy(update={"hard_bounce_limit": 1, "complaint_limit": 1})
    bounce = (FIXTURES / "forged_token.eml").read_bytes()
    bounce = bounce.replace(b"somebody-else@example.net", PEOPLE[101].encode())
    events = []
    for raw in (bounce, _forged_complaint(PEOPLE[102])):
        events += process.events_from_report(cfg, parse.parse(raw), raw)
    assert {(e.kind, e.email) for e in events} == {
        (BounceKind.HARD, PEOPLE[101]),
        (BounceKind.COMPLAINT, PEOPLE[102]),
    }
    with database.transaction(sessions) as session:
        summary = process.apply(session, cfg, events)
    assert summary.unidentified == 2 and not summary.events and not summary.suppressed
    assert _status(sessions, 101) == _status(sessions, 102) == Status.ACTIVE
    with sessions() as session:
        assert not suppression.is_suppressed(session, PEOPLE[101])
        assert not suppression.is_suppressed(session, PEOPLE[102])
        kept = list(session.scalars(select(BounceEvent).order_by(BounceEvent.email)))
    assert [(e.email, e.subscriber_id) for e in kept] == [(PEOPLE[101], None), (PEOPLE[102], None)]
    assert all(e.evidence.startswith(process.UNVERIFIED) for e in kept)
    assert "5.1.1" in kept[0].evidence and "abuse" in kept[1].evidence


def test_a_report_about_an_erased_address_keeps_nothing_personal(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _setup(sessions)
    bounce = (FIXTURES / "forged_token.eml").read_bytes()
    bounce = bounce.replace(b"somebody-else@example.net", b"Gone@Example.org")
    events = process.events_from_report(settings, parse.parse(bounce), bounce)
    with database.transaction(sessions) as session:
        people.erase(session, "gone@example.org", Context(form="cli", wording="erasure"))
    with database.transaction(sessions) as session:
        summary = process.apply(session, settings, events)
    assert summary.erased == 1 and not summary.unidentified and not summary.events
    with sessions() as session:
        [kept] = session.scalars(select(BounceEvent))
    assert (kept.fingerprint, kept.kind) == (events[0].fingerprint, BounceKind.HARD)
    assert (kept.email, kept.diagnostic, kept.evidence, kept.subscriber_id) == ("", "", "", None)


def test_delays_and_auto_replies_about_nobody_of_ours_are_not_kept(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    # No readers in the database: the tokens are genuine but name nobody who is here.
    events = []
    for name in ("out_of_office.eml", "postfix_delayed.eml", "exim_plaintext.eml"):
        raw = (FIXTURES / name).read_bytes()
        events += process.events_from_report(settings, parse.parse(raw), raw)
    with database.transaction(sessions) as session:
        summary = process.apply(session, settings, events)
    assert (summary.stray_notices, summary.unidentified) == (2, 1)  # the hard bounce is kept
    with sessions() as session:
        assert list(session.scalars(select(BounceEvent.kind))) == [BounceKind.HARD]
