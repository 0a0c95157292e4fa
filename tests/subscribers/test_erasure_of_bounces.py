"""Erasure and the right of access for bounce reports: exactly the person's, and for good."""

from __future__ import annotations

import mailbox
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from newsletter import database, privacy
from newsletter.campaigns.models import BounceEvent
from newsletter.cli.app import app
from newsletter.database import transaction
from subscribers import consent, people

STAFF = consent.Context(form="cli:test")
BOUNCE = Path(__file__).parents[1] / "campaigns" / "fixtures" / "exim_plaintext.eml"
ERIN = "erin@gone.example.com"


def _ann_and_joann(s: Session) -> None:
    """Ann, who bounced once, and Joann, whose address ends with Ann's."""
    ann = people.add(s, "ann@example.org", STAFF)
    joann = people.add(s, "joann@example.org", STAFF)
    s.add_all(
        [
            BounceEvent(
                fingerprint="ann", subscriber_id=ann.id, email=ann.email, kind="soft",
                status="4.2.2", diagnostic="452 <ann@example.org>: mailbox full",
                evidence="dsn x: 4.2.2 ann@example.org",
            ),
            BounceEvent(
                fingerprint="joann", subscriber_id=joann.id, email=joann.email, kind="hard",
                diagnostic="550 5.1.1 <joann@example.org>: user unknown",
                evidence="dsn y: 5.1.1 joann@example.org",
            ),
        ]
    )  # fmt: skip


def test_the_right_of_access_shows_no_report_about_another_address(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _ann_and_joann(s)
        held = privacy.export_person(s, "ann@example.org")
    assert [b["diagnostic"] for b in held["bounces"]] == ["452 <ann@example.org>: mailbox full"]


def test_erasure_leaves_a_report_about_another_address_alone(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _ann_and_joann(s)
    with transaction(sessions) as s:
        assert privacy.erase(s, "ANN@example.org", STAFF).bounce_events == 1
    with transaction(sessions) as s:
        [joann] = s.scalars(select(BounceEvent).where(BounceEvent.fingerprint == "joann"))
        assert joann.subscriber_id is not None and joann.email == "joann@example.org"
        assert joann.diagnostic == "550 5.1.1 <joann@example.org>: user unknown"
        assert len(privacy.export_person(s, "joann@example.org")["bounces"]) == 1
        assert privacy.export_person(s, "ann@example.org")["bounces"] == []


def test_erasure_keeps_a_reports_fingerprint_and_nothing_personal(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _ann_and_joann(s)
    with transaction(sessions) as s:
        privacy.erase(s, "ann@example.org", STAFF)
    with transaction(sessions) as s:
        [ann] = s.scalars(select(BounceEvent).where(BounceEvent.fingerprint == "ann"))
    # The fingerprint is what tells ``bounces process`` it has read that report before.
    assert (ann.subscriber_id, ann.email, ann.status, ann.diagnostic, ann.evidence) == (
        None, "", "", "", ""
    )  # fmt: skip
    assert ann.kind == "soft"


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _texts(db_url: str) -> list[str]:
    """Every bounce event's address, diagnostic and evidence, lower-cased."""
    engine = database.make_engine(db_url)
    try:
        with database.session_factory(engine)() as s:
            rows = s.execute(
                select(BounceEvent.email, BounceEvent.diagnostic, BounceEvent.evidence)
            ).all()
    finally:
        engine.dispose()
    return [" ".join(row).lower() for row in rows]


def _rows_naming(db_url: str, text: str) -> list[str]:
    return [row for row in _texts(db_url) if text in row]


def test_reading_the_mailbox_again_after_erasure_brings_nothing_back(
    cli_env: Path, db_url: str
) -> None:
    box = mailbox.Maildir(cli_env / "bounces", create=True)
    raw = BOUNCE.read_bytes()
    box.add(raw)
    _run("subscribers", "add", ERIN)
    _run("bounces", "process", str(cli_env / "bounces"))
    assert _rows_naming(db_url, "erin@")
    _run("subscribers", "erase", ERIN, "--yes")
    assert _rows_naming(db_url, "erin@") == []

    _run("bounces", "process", str(cli_env / "bounces"))
    assert _rows_naming(db_url, "erin@") == []
    # A later bounce of a briefing sent before the erasure is a new report, not a repeat.
    box.add(raw.replace(b"Date: Tue, 24 Nov 2026 09:00:00", b"Date: Wed, 25 Nov 2026 09:00:00"))
    later = _run("bounces", "process", str(cli_env / "bounces"))
    assert _rows_naming(db_url, "erin@") == []
    assert len(_texts(db_url)) == 2
    assert "1 report(s) about erased people" in " ".join(later.split())
