"""Double opt-in: a subscribe form makes a pending person, their link makes them active.

Nobody is mailed a briefing before confirming, a stranger cannot change an active
person's topics, and an old link cannot undo a later unsubscribe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers import consent, suppression
from subscribers.addresses import normalise
from subscribers.errors import Conflict
from subscribers.models import ConsentEvent, MailingList, Status, Subscriber
from subscribers.orm import utcnow
from subscribers.people import (
    claim_status,
    clean_language,
    get,
    insert_new,
    join,
    set_topics,
    subscribed_lists,
)


@dataclass(frozen=True, slots=True)
class Request:
    """The outcome of a subscribe form: who, and whether to send them a confirmation."""

    subscriber: Subscriber | None
    send_confirmation: bool


def request_subscription(
    session: Session,
    address: str,
    context: consent.Context,
    *,
    name: str = "",
    language: str = "en",
    topics: Iterable[MailingList] = (),
    lists: Iterable[MailingList] = (),
) -> Request:
    """Handle a subscribe form; the caller shows the same page whatever the outcome.

    New, pending and unsubscribed people get a confirmation mail, join ``lists`` (the
    default list) and follow their chosen topics (nothing is sent to them until they
    confirm). So do bounced people: confirming proves the address works again. Active
    people get nothing, so a stranger cannot change their topics; complained and
    staff-suppressed addresses get nothing either.
    """
    addr = normalise(address)
    chosen = list(topics)
    joined = list(lists)
    person = session.scalar(select(Subscriber).where(Subscriber.email_key == addr.key))
    entry = suppression.find(session, addr.key)
    if entry is not None and entry.reason not in suppression.SELF_LIFTABLE:
        return Request(person, False)
    if person is None:
        person = insert_new(
            session, addr, name=name, language=language, status=Status.PENDING, source=context.form
        ) or session.scalar(select(Subscriber).where(Subscriber.email_key == addr.key))
    if person is None:  # inserted by a parallel request that has erased it since
        raise Conflict("this address changed at the same moment; please try again")
    if person.status in (Status.ACTIVE, Status.COMPLAINED):
        return Request(person, False)
    if person.status in (Status.PENDING, Status.UNSUBSCRIBED, Status.BOUNCED):  # once confirmed
        if name.strip():
            person.name = name.strip()[:200]
        person.language = clean_language(language)
        for mailing_list in joined:
            join(session, person, mailing_list)
        set_topics(session, person, chosen)
    names = [m.name for m in [*joined, *chosen]]
    consent.record(session, person.id, consent.SUBSCRIBE, context, names)
    return Request(person, True)


def confirm(
    session: Session,
    subscriber_id: int,
    context: consent.Context,
    *,
    issued_at: datetime | None = None,
    topics: Iterable[MailingList] | None = None,
    lists: Iterable[MailingList] = (),
) -> Subscriber:
    """Double opt-in: make a pending (or re-subscribing) person active, on ``lists``.

    ``issued_at`` is when the confirmation link was made: a link older than the
    person's last unsubscribe cannot bring them back. ``lists`` is the default list,
    so whoever confirms is on it even if they asked before every sign-up joined it.
    """
    person = get(session, subscriber_id)
    for _attempt in range(2):  # once more if a parallel request changed the status first
        if person.status == Status.ACTIVE:
            return person
        if person.status == Status.COMPLAINED:
            raise Conflict("this address cannot be confirmed; please contact us")
        if person.status == Status.UNSUBSCRIBED and issued_at is not None:
            left = session.scalar(
                select(func.max(ConsentEvent.at)).where(
                    ConsentEvent.subscriber_id == person.id,
                    ConsentEvent.action == consent.UNSUBSCRIBE,
                )
            )
            if left is not None and _aware(left) >= issued_at:
                raise Conflict("this link is older than your unsubscribe; please subscribe again")
        entry = suppression.find(session, person.email_key)
        if entry is not None and entry.reason not in suppression.SELF_LIFTABLE:
            raise Conflict("this address cannot be confirmed; please contact us")
        now = utcnow()
        if claim_status(session, person, Status.ACTIVE, confirmed_at=now, updated_at=now):
            break
    else:
        raise Conflict("your subscription changed at the same moment; please try again")
    suppression.lift(session, person.email_key)
    if topics is not None:
        set_topics(session, person, topics)
    for mailing_list in lists:
        join(session, person, mailing_list)
    names = [m.name for m in subscribed_lists(session, person)]
    consent.record(session, person.id, consent.CONFIRM, context, names)
    session.flush()
    return person


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
