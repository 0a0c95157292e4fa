"""Data-protection requests across every domain: erasure and the right of access.

``subscribers`` knows only its own tables (people, subscriptions, consent log,
suppression). A person also appears in the campaign ledger (which briefings were
sent to which address), in bounce reports (raw delivery-status text naming the
address) and in donation records. This module answers for all of them, looking
rows up both by subscriber id and by address, since a bounce or a gift can name
an address that is no longer linked to anyone.

Donation records are never erased here: a charity must keep its gift and Gift
Aid records to show HMRC, which can audit claims for years afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from newsletter.campaigns.models import (
    BOUNCE_TOMBSTONE,
    BounceEvent,
    Campaign,
    CampaignRecipient,
)
from newsletter.donations.models import DonationIntent, Gift, RecurringGift
from newsletter.results.models import CampaignLink, Click, Open
from subscribers import consent, exporter, people
from subscribers.addresses import normalise

DONATIONS_KEPT = (
    "donation and Gift Aid records are kept: the charity must be able to show them "
    "to HMRC, which can check Gift Aid claims for six years after the accounting "
    "period they belong to"
)


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed, and the donation records it kept (see ``DONATIONS_KEPT``)."""

    person: bool
    bounce_events: int  # emptied to a tombstone (see ``BOUNCE_TOMBSTONE``), not deleted
    sends_removed: int  # campaign ledger rows, deleted with the person
    gifts_kept: int
    declarations_kept: int


def _matches(column: Any, key: str) -> ColumnElement[bool]:
    return func.lower(column) == key


def _person_id(session: Session, key: str) -> int | None:
    person = people.find(session, key)
    return person.id if person is not None else None


def _by(column: Any, sid: int | None) -> ColumnElement[bool]:
    return column == sid if sid is not None else false()


def _bounces(sid: int | None, key: str) -> ColumnElement[bool]:
    """Bounce events of the person: linked to them, or reported for exactly their address.

    Never a search of the report's free text: ``ann@example.org`` is also a substring of
    ``joann@example.org``, and another person's report must neither be shown nor erased.
    """
    return or_(_by(BounceEvent.subscriber_id, sid), _matches(BounceEvent.email, key))


def _recipients(sid: int | None, key: str) -> ColumnElement[bool]:
    return or_(_by(CampaignRecipient.subscriber_id, sid), _matches(CampaignRecipient.email, key))


def _gifts(sid: int | None, key: str) -> ColumnElement[bool]:
    return or_(_by(Gift.subscriber_id, sid), _matches(Gift.donor_email, key))


def _recurring(sid: int | None, key: str) -> ColumnElement[bool]:
    return or_(_by(RecurringGift.subscriber_id, sid), _matches(RecurringGift.donor_email, key))


def _intents(sid: int | None, key: str) -> ColumnElement[bool]:
    """Donation forms of the person: an intent holds no address, so also those behind
    a gift or monthly gift that names it."""
    return or_(
        _by(DonationIntent.subscriber_id, sid),
        DonationIntent.id.in_(select(Gift.intent_id).where(_gifts(sid, key))),
        DonationIntent.id.in_(select(RecurringGift.intent_id).where(_recurring(sid, key))),
    )


def _count(session: Session, model: Any, where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(where)) or 0


def erase(session: Session, address: str, context: consent.Context) -> Erased:
    """The right to erasure everywhere: ``subscribers.people.erase`` (which takes the
    person's campaign ledger rows with it) plus bounce events, emptied to a
    ``BOUNCE_TOMBSTONE``.

    Runs in the caller's transaction, so the erasure happens completely or not at all.
    The other tables are cleared first, while their rows still carry the person's id
    (deleting the person nulls it in bounce events).
    """
    key = normalise(address).key
    sid = _person_id(session, key)
    gifts = _count(session, Gift, _gifts(sid, key)) + _count(
        session, RecurringGift, _recurring(sid, key)
    )
    declarations = _count(
        session, DonationIntent, _intents(sid, key) & DonationIntent.gift_aid.is_(True)
    )
    bounced = session.execute(
        update(BounceEvent)
        .where(_bounces(sid, key))
        .values(**BOUNCE_TOMBSTONE)
        .execution_options(synchronize_session=False)
    )
    if sid is not None:  # clicks and opens naming them (person tracking mode only)
        session.execute(delete(Click).where(Click.subscriber_id == sid))
        session.execute(delete(Open).where(Open.subscriber_id == sid))
    # The ledger's rows go with the person (their foreign key cascades): only counted.
    sends = _count(session, CampaignRecipient, _recipients(sid, key))
    removed = people.erase(session, address, context)
    return Erased(
        person=removed,
        bounce_events=bounced.rowcount,  # type: ignore[attr-defined]
        sends_removed=sends,
        gifts_kept=gifts,
        declarations_kept=declarations,
    )


def _plain(row: Any, fields: list[str]) -> dict[str, Any]:
    """The named attributes of a row, with times as ISO 8601 text (for ``json.dumps``)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


_RECIPIENT = [
    "campaign_id",
    "email",
    "name",
    "state",
    "attempts",
    "last_code",
    "last_reply",
    "message_id",
    "sent_at",
]
_BOUNCE = [
    "campaign_id",
    "email",
    "kind",
    "status",
    "diagnostic",
    "source",
    "evidence",
    "received_at",
]
_GIFT = [
    "frequency",
    "amount_minor",
    "currency",
    "status",
    "refunded_minor",
    "donor_email",
    "donor_name",
    "campaign_id",
    "paid_at",
    "receipt_sent_at",
]
_RECURRING = [
    "amount_minor",
    "currency",
    "status",
    "donor_email",
    "donor_name",
    "campaign_id",
    "created_at",
    "canceled_at",
]
_INTENT = [
    "public_id",
    "amount_minor",
    "currency",
    "frequency",
    "status",
    "note",
    "gift_aid",
    "gift_aid_name",
    "gift_aid_address",
    "gift_aid_postcode",
    "gift_aid_wording",
    "gift_aid_version",
    "created_at",
]


def export_person(session: Session, address: str) -> dict[str, Any]:
    """Everything held about one address (the right of access), ready for ``json.dumps``:
    ``exporter.person_record`` plus briefings sent, bounce reports and donations."""
    held = exporter.person_record(session, address)
    key = normalise(address).key
    sid = held["subscriber"]["id"] if held["subscriber"] else None
    sent = session.execute(
        select(CampaignRecipient, Campaign.subject, Campaign.briefing_slug)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(_recipients(sid, key))
        .order_by(CampaignRecipient.id)
    )
    held["campaigns"] = [
        {"subject": subject, "briefing": slug, **_plain(row, _RECIPIENT)}
        for row, subject, slug in sent
    ]
    bounces = session.scalars(
        select(BounceEvent).where(_bounces(sid, key)).order_by(BounceEvent.id)
    )
    held["bounces"] = [_plain(event, _BOUNCE) for event in bounces]
    gifts = session.scalars(select(Gift).where(_gifts(sid, key)).order_by(Gift.id))
    monthly = session.scalars(
        select(RecurringGift).where(_recurring(sid, key)).order_by(RecurringGift.id)
    )
    forms = session.scalars(
        select(DonationIntent).where(_intents(sid, key)).order_by(DonationIntent.id)
    )
    clicks = session.execute(
        select(Click.campaign_id, CampaignLink.url, Click.clicked_at, Click.machine)
        .outerjoin(
            CampaignLink,
            (CampaignLink.campaign_id == Click.campaign_id) & (CampaignLink.idx == Click.link_idx),
        )
        .where(_by(Click.subscriber_id, sid))
        .order_by(Click.id)
    )
    held["clicks"] = [  # person tracking mode only; empty otherwise
        {"campaign_id": c, "link": url, "clicked_at": at.isoformat(), "machine": machine}
        for c, url, at, machine in clicks
    ]
    held["donations"] = {
        "gifts": [_plain(gift, _GIFT) for gift in gifts],
        "monthly_gifts": [_plain(gift, _RECURRING) for gift in monthly],
        "donation_forms_and_gift_aid_declarations": [_plain(form, _INTENT) for form in forms],
    }
    return held
