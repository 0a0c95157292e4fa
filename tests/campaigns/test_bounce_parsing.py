"""Returned mail from real-world shapes is read and classified the way staff would expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from newsletter.campaigns import verp
from newsletter.campaigns.bounces.classify import classify, classify_feedback
from newsletter.campaigns.bounces.parse import parse
from newsletter.campaigns.bounces.process import events_from_report
from newsletter.campaigns.bounces.verdict import decide
from newsletter.campaigns.states import BounceKind
from newsletter.config import Settings
from tests.conftest import FIXTURE_SECRET

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The sample mails' tokens were signed with ``FIXTURE_SECRET``."""
    return settings.model_copy(update={"secret_key": SecretStr(FIXTURE_SECRET)})


def _events(settings: Settings, name: str):
    raw = (FIXTURES / name).read_bytes()
    return events_from_report(settings, parse(raw), raw)


@pytest.mark.parametrize(
    ("name", "kind", "subscriber", "address"),
    [
        ("rfc3464_user_unknown.eml", BounceKind.HARD, 101, "ann@mail.example.net"),
        ("postfix_user_unknown.eml", BounceKind.HARD, 102, "bob@mail.example.net"),
        ("exim_mailbox_full.eml", BounceKind.HARD, 104, "dave@full.example.com"),
        ("exim_plaintext.eml", BounceKind.HARD, 105, "erin@gone.example.com"),
        ("gmail_no_such_user.eml", BounceKind.HARD, 106, "frank.nobody@gmail.com"),
        ("outlook_blocked.eml", BounceKind.POLICY, 107, "grace@outlook.com"),
        ("outlook_mailbox_unavailable.eml", BounceKind.HARD, 108, "heidi@hotmail.com"),
        ("arf_abuse.eml", BounceKind.COMPLAINT, 109, ""),
        ("arf_headers_only.eml", BounceKind.COMPLAINT, 103, "carol@slow.example.net"),
        ("rfc6591_dmarc_failure.eml", BounceKind.POLICY, 107, "grace@outlook.com"),
    ],
)
def test_samples_are_classified_and_traced_to_the_recipient(
    settings: Settings, name: str, kind: BounceKind, subscriber: int, address: str
) -> None:
    (event,) = _events(settings, name)
    assert event.kind == kind
    assert event.campaign_id == 7
    assert event.subscriber_id == subscriber
    assert event.email == address
    assert event.evidence  # what staff see when they review a suppression


@pytest.mark.parametrize(
    ("name", "kind", "subscriber"),
    [
        ("postfix_delayed.eml", BounceKind.DELAYED, 103),
        ("out_of_office.eml", BounceKind.AUTO_REPLY, 101),
    ],
)
def test_warnings_and_auto_replies_are_recorded_as_such(
    settings: Settings, name: str, kind: BounceKind, subscriber: int
) -> None:
    (event,) = _events(settings, name)
    assert (event.kind, event.subscriber_id) == (kind, subscriber)


def test_a_forged_verp_token_identifies_nobody(settings: Settings) -> None:
    (event,) = _events(settings, "forged_token.eml")
    assert event.subscriber_id is None and event.campaign_id is None


def test_dsn_fields_are_read() -> None:
    report = parse((FIXTURES / "postfix_user_unknown.eml").read_bytes())
    assert report.kind == "dsn"
    (rcpt,) = report.recipients
    assert rcpt.status == "5.1.1"
    assert rcpt.action == "failed"
    assert rcpt.remote_mta == "mail.example.net"
    assert "User unknown in virtual mailbox table" in rcpt.diagnostic


def test_garbage_is_not_a_report() -> None:
    assert parse(b"\x00\xff not an email at all").kind == "other"
    assert parse(b"").kind == "other"


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.1.1", "", BounceKind.HARD),
        ("5.1.10", "", BounceKind.HARD),
        ("4.4.7", "", BounceKind.SOFT),
        ("5.2.2", "552 mailbox full", BounceKind.HARD),  # final: the server gave up on it
        ("4.2.2", "452 mailbox full", BounceKind.SOFT),  # for now: it may take it later
        ("4.2.2", "", BounceKind.SOFT),
        ("5.7.1", "550 5.7.1 rejected by DMARC policy", BounceKind.POLICY),
        ("5.7.26", "", BounceKind.POLICY),
        ("5.0.0", "554 message rejected as spam", BounceKind.POLICY),
        ("5.0.0", "550 user unknown", BounceKind.HARD),
        ("", "550 5.1.1 no such user", BounceKind.HARD),
        ("", "452 too many recipients", BounceKind.SOFT),
        ("2.0.0", "", None),
        ("", "", None),
    ],
)
def test_status_classification(status: str, diagnostic: str, expected: BounceKind | None) -> None:
    assert classify(status, diagnostic) == expected


def test_delayed_is_not_a_bounce_and_not_spam_is_not_a_complaint() -> None:
    assert classify("4.4.1", action="delayed") is None
    assert classify_feedback("not-spam") is None
    assert classify_feedback("abuse") == BounceKind.COMPLAINT


@pytest.mark.parametrize(
    ("feedback_type", "kind"),
    [
        ("abuse", BounceKind.COMPLAINT),
        ("Other", BounceKind.COMPLAINT),
        ("auth-failure", BounceKind.POLICY),
        ("fraud", BounceKind.POLICY),
        ("virus", BounceKind.POLICY),
        ("not-spam", None),
    ],
)
def test_only_abuse_reports_are_complaints(feedback_type: str, kind: BounceKind | None) -> None:
    assert classify_feedback(feedback_type) == kind


def test_verp_round_trip_and_case_insensitivity(settings: Settings) -> None:
    address = verp.return_path(settings, 12, 345)
    assert verp.find_return_path(settings, f"To: {address.upper()}") == verp.Recipient(12, 345)
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret")})
    assert verp.find_return_path(other, address) is None
    assert verp.message_id(settings, 12, 345) == verp.message_id(settings, 12, 345)
    assert verp.find_message_id(settings, verp.message_id(settings, 12, 345)) == verp.Recipient(
        12, 345
    )


def test_a_persons_reply_quoting_a_briefing_is_not_a_bounce(settings: Settings) -> None:
    """Words a briefing may use ("does not exist", "could not be delivered") in a reply
    sent to the return path by a misconfigured mail client name nobody as bounced."""
    address = verp.return_path(settings, 7, 101)
    raw = (
        f"From: Ann <ann@mail.example.net>\nTo: {address}\nSubject: Re: Briefing 112\n"
        "Message-ID: <reply-1@mail.example.net>\nContent-Type: text/plain\n\n"
        "Thanks, very useful.\n\n> The aid could not be delivered to the border: the\n"
        "> corridor does not exist on any map, and the mission was blocked by policy.\n"
    ).encode()
    found = decide(parse(raw), raw)
    assert found.kind is None and found.rule.startswith("not a bounce")
    assert events_from_report(settings, parse(raw), raw) == []
