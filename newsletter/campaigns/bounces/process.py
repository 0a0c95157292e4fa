"""From returned mail (or a 5xx at send time) to bounce events, and the suppression policy.

Policy (from settings): ``hard_bounce_limit`` hard bounces, ``complaint_limit``
complaints, or ``soft_bounce_limit`` soft bounces (within ``soft_bounce_window_days`` or
the reader's last ``soft_bounce_limit`` briefings, whichever reaches further back: a
monthly briefing never gives three soft bounces in 30 days) mark the person bounced or
complained and add their address to the suppression list, with the reason and the
evidence. Policy rejections of our own mail, delay warnings and
automatic answers (out of office) are recorded but never count.
Events older than the person's latest consent (a re-confirmation or a reactivation by
staff) do not count either, so a reactivated address starts with a clean slate.
Every event has a fingerprint, so reading the same mailbox twice changes nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.campaigns import verp
from newsletter.campaigns.bounces import verdict
from newsletter.campaigns.bounces.classify import classify
from newsletter.campaigns.bounces.parse import ReturnedMail
from newsletter.campaigns.ledger import Claimed
from newsletter.campaigns.models import BOUNCE_TOMBSTONE, BounceEvent, Campaign, CampaignRecipient
from newsletter.campaigns.states import BounceKind
from newsletter.config import Settings
from newsletter.mail.transports.base import Delivery
from subscribers import consent, people, suppression
from subscribers.addresses import normalise
from subscribers.errors import InvalidAddress
from subscribers.models import ConsentEvent, Status, Subscriber
from subscribers.orm import utcnow

SOFT_BOUNCE = suppression.SOFT_BOUNCE
_STATUS_FOR = {
    BounceKind.HARD: Status.BOUNCED,
    BounceKind.SOFT: Status.BOUNCED,
    BounceKind.COMPLAINT: Status.COMPLAINED,
}
_REASON_FOR = {
    BounceKind.HARD: suppression.HARD_BOUNCE,
    BounceKind.SOFT: SOFT_BOUNCE,
    BounceKind.COMPLAINT: suppression.COMPLAINT,
}


@dataclass(frozen=True)
class Event:
    """One bounce or complaint about one address, not yet stored."""

    kind: BounceKind
    email: str
    subscriber_id: int | None
    campaign_id: int | None
    status: str
    diagnostic: str
    source: str  # smtp, dsn, arf, text
    evidence: str
    fingerprint: str


@dataclass
class Summary:
    messages: int = 0
    not_reports: int = 0
    events: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    unidentified: int = 0
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    erased: int = 0  # reports about an erased address, kept only as a fingerprint
    stray_notices: int = 0  # delays and auto-replies about nobody of ours: not kept


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


#: Kinds that only say something about a reader we know; untraced, they are not kept.
NOTICES = frozenset({BounceKind.DELAYED, BounceKind.AUTO_REPLY})


def events_from_report(settings: Settings, report: ReturnedMail, raw: bytes) -> list[Event]:
    """The report's one event (none when it is not a bounce), traced by VERP or Message-ID."""
    return event_from_verdict(settings, report, raw, verdict.decide(report, raw))


def event_from_verdict(
    settings: Settings, report: ReturnedMail, raw: bytes, found: verdict.Verdict
) -> list[Event]:
    """The event for a verdict already reached (``--dry-run`` shows both)."""
    if found.kind is None:
        return []
    who = verp.find_return_path(settings, report.envelope)
    who = who or verp.find_return_path(settings, report.original_headers)
    who = who or verp.find_message_id(settings, report.original_headers)
    digest = hashlib.sha256(raw).hexdigest()
    label = report.message_id or digest
    what = "feedback report" if report.kind == "arf" else report.kind
    evidence = f"{what} {label}: {found.rule}"
    if found.status and found.status not in found.rule:
        evidence += f"; {found.status} {found.diagnostic}"
    if found.recipient:
        evidence += f"; the report names {found.recipient}"
    family = report.kind if report.kind in ("dsn", "arf") else "text"
    return [
        Event(
            found.kind,
            found.recipient,
            who.subscriber_id if who else None,
            who.campaign_id if who else None,
            found.status,
            found.diagnostic,
            found.source,
            evidence[:2000],
            _fingerprint(family, digest)
            if family == "arf"
            else _fingerprint(family, digest, found.recipient.lower()),
        )
    ]


def events_from_smtp(campaign_id: int, failures: Sequence[tuple[Claimed, Delivery]]) -> list[Event]:
    """Permanent refusals at send time (550 5.1.1 ...) count like returned mail."""
    out = []
    for row, delivery in failures:
        kind = classify("", delivery.reply, code=delivery.code)
        if kind is None:
            continue
        reply = f"{delivery.code} {delivery.reply}".strip()
        out.append(
            Event(
                kind,
                row.email,
                row.subscriber_id,
                campaign_id,
                "",
                reply,
                "smtp",
                f"refused at send time by the receiving server: {reply}"[:2000],
                _fingerprint("smtp", campaign_id, row.subscriber_id),
            )
        )
    return out


def _identify(session: Session, event: Event) -> Subscriber | None:
    """Only a verified VERP token or Message-ID names a subscriber, never the report's text.

    The bounce and abuse addresses are public, so anyone can send a report naming any
    address in Final-Recipient or Original-Rcpt-To; trusting that would let them get
    any reader suppressed.
    """
    if event.subscriber_id is None:
        return None
    return session.get(Subscriber, event.subscriber_id)


UNVERIFIED = "not traced to our mail (no valid return-path token or Message-ID); nobody marked"


def _clean_slate_since(session: Session, subscriber_id: int) -> datetime | None:
    """The latest consent (confirmation, reactivation): older events no longer count."""
    return session.scalar(
        select(func.max(ConsentEvent.at)).where(
            ConsentEvent.subscriber_id == subscriber_id,
            ConsentEvent.action.in_([consent.CONFIRM, consent.REACTIVATE]),
        )
    )


def _soft_window_start(
    session: Session, settings: Settings, subscriber_id: int, now: datetime
) -> datetime:
    """Soft bounces count from the window's start or the reader's last few sends, if earlier.

    Counting in days alone suits a daily sender; counting the sends too means a reader whose
    last ``soft_bounce_limit`` briefings all bounced is suppressed whatever the rhythm.
    """
    window = now - timedelta(days=settings.soft_bounce_window_days)
    sends = (
        select(CampaignRecipient.sent_at)
        .where(
            CampaignRecipient.subscriber_id == subscriber_id,
            CampaignRecipient.sent_at.is_not(None),
            CampaignRecipient.sent_at <= now,
        )
        .order_by(CampaignRecipient.sent_at.desc())
        .limit(max(settings.soft_bounce_limit, 1))
    ).subquery()
    earliest = session.scalar(select(func.min(sends.c.sent_at)))
    # A bounce of the earliest of those sends arrives after it was sent: start just before.
    return min(window, earliest - timedelta(seconds=1)) if earliest else window


def _over_limit(
    session: Session, settings: Settings, person: Subscriber, kind: BounceKind, now: datetime
) -> bool:
    limits = {
        BounceKind.HARD: settings.hard_bounce_limit,
        BounceKind.SOFT: settings.soft_bounce_limit,
        BounceKind.COMPLAINT: settings.complaint_limit,
    }
    limit = limits.get(kind)
    if limit is None or limit <= 0:
        return False
    query = select(func.count()).where(
        BounceEvent.subscriber_id == person.id, BounceEvent.kind == kind
    )
    since = _clean_slate_since(session, person.id)
    if kind == BounceKind.SOFT:
        window = _soft_window_start(session, settings, person.id, now)
        since = max(since, window) if since else window
    if since is not None:
        query = query.where(BounceEvent.received_at > since)
    return (session.scalar(query) or 0) >= limit


def _erased(session: Session, address: str) -> bool:
    """Whether the person behind ``address`` asked for erasure.

    Mail sent before the erasure can still bounce afterwards; storing that report
    would bring the address (and the text naming it) back.
    """
    try:
        key = normalise(address).key
    except InvalidAddress:
        return False
    entry = suppression.find(session, key)
    return entry is not None and entry.reason == suppression.ERASED


def apply(
    session: Session, settings: Settings, events: Iterable[Event], *, now: datetime | None = None
) -> Summary:
    """Store events and suppress the people the policy says to; idempotent per event.

    Events not traced to a subscriber by a verified token are stored as unidentified
    (with their evidence, for staff to review) and never mark or suppress anyone.
    Events about an erased address keep only their fingerprint, kind and source.
    """
    now = now or utcnow()
    summary = Summary()
    for event in events:
        if session.scalar(
            select(BounceEvent.id).where(BounceEvent.fingerprint == event.fingerprint)
        ):
            summary.duplicates += 1
            continue
        if _erased(session, event.email):
            session.add(
                BounceEvent(
                    fingerprint=event.fingerprint,
                    kind=event.kind,
                    source=event.source,
                    received_at=now,
                    **BOUNCE_TOMBSTONE,
                )
            )
            session.flush()
            summary.erased += 1
            continue
        person = _identify(session, event)
        if person is None and event.kind in NOTICES:
            summary.stray_notices += 1  # nothing to review in a delay about nobody of ours
            continue
        evidence = event.evidence if person else f"{UNVERIFIED}: {event.evidence}"[:2000]
        campaign_id = event.campaign_id
        if campaign_id is not None and session.get(Campaign, campaign_id) is None:
            campaign_id = None  # a campaign deleted since (or a bounce from another install)
        session.add(
            BounceEvent(
                fingerprint=event.fingerprint,
                subscriber_id=person.id if person else None,
                campaign_id=campaign_id,
                email=person.email if person else event.email,
                kind=event.kind,
                status=event.status[:16],
                diagnostic=event.diagnostic[:2000],
                source=event.source,
                evidence=evidence,
                received_at=now,
            )
        )
        session.flush()
        if person is None:
            # Kept for staff to review, but not counted as anyone's bounce or complaint.
            summary.unidentified += 1
            continue
        summary.events[event.kind] += 1
        if event.kind in verdict.NEVER_COUNTED or person.status != Status.ACTIVE:
            continue
        if _over_limit(session, settings, person, event.kind, now):
            reason = _REASON_FOR[event.kind]
            # The first suppression reason is kept, so a soft-bounce entry says so.
            suppression.suppress(session, person.email_key, reason, event.evidence)
            people.mark(session, person, _STATUS_FOR[event.kind], event.evidence)
            summary.suppressed.append((person.email, reason))
    return summary
