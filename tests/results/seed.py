"""A started campaign with a bit of everything a report counts, written as raw rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.models import BounceEvent, Campaign, CampaignRecipient
from newsletter.donations.models import DonationIntent, Gift
from newsletter.results.models import CampaignLink, Click
from subscribers.models import ConsentEvent
from tests.campaigns.conftest import new_campaign, seed_audience, start_campaign

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def seeded_campaign(engine: Engine, sessions: sessionmaker[Session], readers: int = 8) -> int:
    """A campaign started at ``START`` whose rows, bounces, unsubscribes, clicks and gifts
    cover every figure of the report (and some that must not count)."""
    ids = seed_audience(engine, readers)
    campaign_id = new_campaign(sessions)
    other = new_campaign(sessions)
    start_campaign(sessions, campaign_id)
    Ledger(engine).start(campaign_id, START)
    t0 = START
    with engine.begin() as conn:
        conn.execute(update(Campaign).where(Campaign.id == other).values(started_at=t0))
        rows = list(
            conn.scalars(
                select(CampaignRecipient.id)
                .where(CampaignRecipient.campaign_id == campaign_id)
                .order_by(CampaignRecipient.id)
            )
        )
        states = ["sent"] * (len(rows) - 3) + ["deferred", "failed", "skipped"]
        for row, state in zip(rows, states, strict=True):
            conn.execute(
                update(CampaignRecipient).where(CampaignRecipient.id == row).values(state=state)
            )
        bounces = [("hard", campaign_id), ("soft", campaign_id), ("soft", campaign_id)]
        bounces += [("complaint", campaign_id), ("hard", other), ("policy", campaign_id)]
        conn.execute(
            insert(BounceEvent),
            [
                {
                    "fingerprint": f"fp{n}",
                    "subscriber_id": ids[n],
                    "campaign_id": cid,
                    "email": f"reader{ids[n]}@example.net",
                    "kind": kind,
                    "received_at": t0 + timedelta(hours=n),
                }
                for n, (kind, cid) in enumerate(bounces)
            ],
        )
        unsubscribes = [
            (f"List-Unsubscribe (campaign {campaign_id})", t0 + timedelta(days=1)),
            (f"List-Unsubscribe (campaign {campaign_id})", t0 + timedelta(days=29)),
            (f"List-Unsubscribe (campaign {campaign_id})", t0 + timedelta(days=31)),  # too late
            (f"List-Unsubscribe (campaign {other})", t0 + timedelta(days=1)),  # another's link
            ("Unsubscribe page", t0 + timedelta(days=2)),  # not from a campaign's link
        ]
        conn.execute(
            insert(ConsentEvent),
            [
                {
                    "subscriber_id": ids[n],
                    "action": "unsubscribe",
                    "lists": [],
                    "at": at,
                    "ip": "",
                    "user_agent": "",
                    "form": "one-click",
                    "wording": wording,
                }
                for n, (wording, at) in enumerate(unsubscribes)
            ],
        )
        conn.execute(
            insert(CampaignLink),
            [
                {"campaign_id": campaign_id, "idx": i, "url": f"https://example.org/{i}", "text": t}
                for i, t in enumerate(["Read the paper", "NATO summit", "Our sources"])
            ],
        )
        clicks = [
            (0, ids[0], False, 0),
            (0, ids[1], False, 1),
            (0, ids[0], False, 2),
            (1, ids[2], False, 3),
            (2, ids[3], True, 0),  # a scanner
            (1, ids[3], True, 0),
            (0, ids[4], False, 9),  # after the first week
        ]
        conn.execute(
            insert(Click),
            [
                {
                    "campaign_id": campaign_id,
                    "link_idx": idx,
                    "subscriber_id": who,
                    "machine": machine,
                    "reason": "burst" if machine else "",
                    "clicked_at": t0 + timedelta(days=day, minutes=5),
                }
                for idx, who, machine, day in clicks
            ],
        )
        gifts = [
            ("once", 2500, 0, True, campaign_id, 0),
            ("monthly", 1000, 0, False, campaign_id, 1),
            ("once", 5000, 5000, True, campaign_id, 3),  # refunded in full
            ("once", 700, 0, False, other, 1),
        ]
        for n, (freq, amount, refunded, aid, cid, day) in enumerate(gifts):
            intent = conn.scalar(
                insert(DonationIntent)
                .values(
                    public_id=f"int{n}",
                    amount_minor=amount,
                    currency="gbp",
                    frequency=freq,
                    campaign_id=cid,
                    gift_aid=aid,
                )
                .returning(DonationIntent.id)
            )
            conn.execute(
                insert(Gift).values(
                    source_id=f"src{n}",
                    frequency=freq,
                    intent_id=intent,
                    campaign_id=cid,
                    amount_minor=amount,
                    refunded_minor=refunded,
                    currency="gbp",
                    paid_at=t0 + timedelta(days=day, hours=2),
                )
            )
    return campaign_id
