"""Erasure and the right of access for bounce reports: exactly the person's, and for good."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import privacy
from newsletter.campaigns.models import BounceEvent
from newsletter.database import transaction
from subscribers import consent, people

STAFF = consent.Context(form="cli:test")


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
