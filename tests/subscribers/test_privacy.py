"""Erasure and the right of access across every table that names a person."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import privacy
from newsletter.campaigns.models import BounceEvent, Campaign, CampaignRecipient
from newsletter.database import transaction
from newsletter.donations.models import DonationIntent, Gift, RecurringGift
from subscribers import consent, lists, people

STAFF = consent.Context(form="cli:test")
SENT = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)


def _dana(s: Session) -> None:
    """Dana, on the list, sent one briefing, bounced twice (once only by address) and
    gave once with Gift Aid; and Other, who must keep everything."""
    dana = people.add(s, "Dana@example.org", STAFF, name="Dana Donor")
    other = people.add(s, "other@example.org", STAFF, name="Other")
    campaign = Campaign(
        briefing_path="b.md",
        briefing_slug="b-112",
        source_text="x",
        subject="Foreign ministers",
        list_id=lists.create(s, "All").id,
    )
    s.add(campaign)
    s.flush()
    for person in (dana, other):
        s.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                subscriber_id=person.id,
                email=person.email,
                name=person.name,
                state="sent",
                message_id=f"<{person.id}@news.example.org>",
                sent_at=SENT,
            )
        )
    s.add_all(
        [
            BounceEvent(
                fingerprint="f1",
                subscriber_id=dana.id,
                email="dana@example.org",
                kind="soft",
                diagnostic="452 mailbox dana@example.org full",
                evidence="Final-Recipient: rfc822; dana@example.org",
            ),
            BounceEvent(
                fingerprint="f2",
                email="DANA@example.org",
                kind="hard",
                evidence="Original-Recipient: rfc822;DANA@example.org",
            ),
            BounceEvent(fingerprint="f3", subscriber_id=other.id, email=other.email, kind="soft"),
        ]
    )
    intent = DonationIntent(
        public_id="pi1",
        amount_minor=1000,
        currency="gbp",
        frequency="once",
        gift_aid=True,
        gift_aid_name="Dana Donor",
        gift_aid_address="1 High St",
        gift_aid_postcode="AB1 2CD",
    )
    s.add(intent)
    s.flush()
    s.add(
        Gift(
            source_id="cs_1",
            frequency="once",
            amount_minor=1000,
            currency="gbp",
            intent_id=intent.id,
            donor_email="dana@example.org",
            donor_name="Dana Donor",
            paid_at=SENT,
        )
    )
    s.add(RecurringGift(subscription_id="sub_1", subscriber_id=dana.id, amount_minor=500))


def test_the_right_of_access_covers_sends_bounces_and_donations(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _dana(s)
        held = json.loads(json.dumps(privacy.export_person(s, "dana@EXAMPLE.org")))
    assert held["subscriber"]["name"] == "Dana Donor"
    [sent] = held["campaigns"]
    assert (sent["subject"], sent["briefing"], sent["email"]) == (
        "Foreign ministers",
        "b-112",
        "Dana@example.org",
    )
    assert sent["message_id"] == "<1@news.example.org>" and sent["sent_at"].startswith("2026-03-04")
    assert sorted(b["kind"] for b in held["bounces"]) == ["hard", "soft"]
    donations = held["donations"]
    assert [g["donor_name"] for g in donations["gifts"]] == ["Dana Donor"]
    assert [g["amount_minor"] for g in donations["monthly_gifts"]] == [500]
    [declaration] = donations["donation_forms_and_gift_aid_declarations"]
    assert declaration["gift_aid"] and declaration["gift_aid_address"] == "1 High St"


def test_erasure_removes_bounces_and_sends_but_keeps_donations(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        _dana(s)
    with transaction(sessions) as s:
        done = privacy.erase(s, "dana@example.org", STAFF)
    assert done.person and done.bounce_events == 2 and done.sends_removed == 1
    assert (done.gifts_kept, done.declarations_kept) == (2, 1)
    with transaction(sessions) as s:
        kept = s.execute(select(BounceEvent.fingerprint, BounceEvent.email, BounceEvent.evidence))
        assert sorted(kept) == [("f1", "", ""), ("f2", "", ""), ("f3", "other@example.org", "")]
        texts = [
            " ".join(str(v) for v in row)
            for row in s.execute(select(CampaignRecipient.email, CampaignRecipient.name))
        ]
        assert not any("dana" in t.lower() for t in texts) and "other@example.org Other" in texts
        assert s.scalar(select(func.count()).select_from(Gift)) == 1
        assert s.scalar(select(DonationIntent.gift_aid_name)) == "Dana Donor"
        held = privacy.export_person(s, "dana@example.org")
    assert held["subscriber"] is None and held["bounces"] == [] and held["campaigns"] == []
    assert [g["donor_email"] for g in held["donations"]["gifts"]] == ["dana@example.org"]
