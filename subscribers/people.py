"""People on the list: add, find, update, unsubscribe, erase, reactivate.

Signing up by double opt-in (the subscribe form, then the confirmation link) is in
``optin``.

Every change of consent appends to the consent log in the same transaction, and
every way of leaving puts the address on the suppression list, so nothing that
happens here can be lost or forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from subscribers import consent, suppression
from subscribers import lists as mailing_lists
from subscribers import topics as topics_
from subscribers.addresses import Address, normalise
from subscribers.errors import Conflict, NotFound
from subscribers.folding import key as search_key
from subscribers.models import (
    BLOCKED,
    MailingList,
    Status,
    Subscriber,
    Subscription,
)
from subscribers.orm import utcnow
from subscribers.search import search as search  # the console's, the CLI's

_STATUS_REASON = {
    Status.UNSUBSCRIBED: suppression.UNSUBSCRIBED,
    Status.BOUNCED: suppression.HARD_BOUNCE,
    Status.COMPLAINED: suppression.COMPLAINT,
}


def clean_language(language: str) -> str:
    """A short language tag such as ``en`` or ``pt-BR``; anything odd becomes ``en``."""
    language = language.strip()
    allowed = all(c.isascii() and (c.isalnum() or c == "-") for c in language)
    return language if allowed and 0 < len(language) <= 16 else "en"


def find(session: Session, address: str) -> Subscriber | None:
    """The person with this address (any case), or None; raises ``InvalidAddress``."""
    key = normalise(address).key
    return session.scalar(select(Subscriber).where(Subscriber.email_key == key))


def get(session: Session, subscriber_id: int) -> Subscriber:
    person = session.get(Subscriber, subscriber_id)
    if person is None:
        raise NotFound("this person is no longer on the list")
    return person


def lookup(session: Session, ref: str) -> Subscriber:
    """By address, or by id written as ``#12`` or ``12``: what staff type in the CLI."""
    ref = ref.strip()
    if ref.lstrip("#").isdigit():
        return get(session, int(ref.lstrip("#")))
    person = find(session, ref)
    if person is None:
        raise NotFound(f"nobody with the address {ref!r} is on the list")
    return person


def subscribed_lists(session: Session, person: Subscriber) -> list[MailingList]:
    """The lists this person currently receives (whatever their overall status)."""
    query = (
        select(MailingList)
        .join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.subscriber_id == person.id, Subscription.subscribed.is_(True))
        .order_by(MailingList.name)
    )
    return list(session.scalars(query))


def memberships(
    session: Session, person: Subscriber
) -> tuple[list[MailingList], list[MailingList]]:
    """The lists and the topics this person is on, each by name."""
    chosen = subscribed_lists(session, person)
    return [m for m in chosen if not m.is_topic], [m for m in chosen if m.is_topic]


def join(session: Session, person: Subscriber, mailing_list: MailingList) -> bool:
    """Put a person on one list or topic (archived or not); True if they were not on it."""
    sub = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == person.id, Subscription.list_id == mailing_list.id
        )
    )
    now = utcnow()
    if sub is None:
        session.add(Subscription(subscriber_id=person.id, list_id=mailing_list.id, updated_at=now))
    elif sub.subscribed:
        return False
    else:
        sub.subscribed = True
        sub.updated_at = now
    person.updated_at = now
    session.flush()
    return True


def set_topics(session: Session, person: Subscriber, wanted: Iterable[MailingList]) -> bool:
    """Follow exactly ``wanted`` among the public, non-archived topics; True if anything changed.

    What a reader's form can show: lists, hidden topics and archived topics are left as
    they are, so ticking boxes never takes anyone off a list or undoes what staff set.
    """
    offered = {m.id for m in topics_.public_topics(session)}
    wanted_ids = {m.id for m in wanted} & offered
    mine = select(Subscription).where(Subscription.subscriber_id == person.id)
    current = {s.list_id: s for s in session.scalars(mine)}
    changed = False
    now = utcnow()
    for list_id in wanted_ids - current.keys():
        session.add(Subscription(subscriber_id=person.id, list_id=list_id, updated_at=now))
        changed = True
    for list_id, sub in current.items():
        want = list_id in wanted_ids
        if list_id in offered and sub.subscribed != want:
            sub.subscribed = want
            sub.updated_at = now
            changed = True
    session.flush()
    return changed


def insert_new(
    session: Session,
    addr: Address,
    *,
    name: str = "",
    language: str = "en",
    status: Status = Status.ACTIVE,
    source: str = "staff",
) -> Subscriber | None:
    """Insert one person, or nothing if their address is already there; None then.

    The one way a single person row is made (staff, the subscribe form): two requests for
    one new address at once would otherwise both insert, and the second would fail on
    the unique address key, a 500 instead of an answer.
    """
    now, clean = utcnow(), name.strip()[:200]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    query = dialect.insert(
        Subscriber
    ).values(
        email=addr.email,
        email_key=addr.key,
        name=clean,
        search_key=search_key(addr.key, clean),  # a Core insert skips the ORM's hook
        language=clean_language(language),
        status=status,
        source=source[:200],
        created_at=now,
        updated_at=now,
        confirmed_at=now if status == Status.ACTIVE else None,
    )
    query = query.on_conflict_do_nothing(index_elements=[Subscriber.email_key])
    made = session.scalar(query.returning(Subscriber.id))
    return None if made is None else session.get(Subscriber, made)


def add(
    session: Session,
    address: str,
    context: consent.Context,
    *,
    name: str = "",
    language: str = "en",
    topics: Iterable[str] = (),
    lists: Iterable[MailingList] = (),
    status: Status = Status.ACTIVE,
    source: str = "staff",
) -> Subscriber:
    """Add a new person (staff action); refuses existing and suppressed addresses.

    ``lists`` are joined; each of ``topics`` names a topic (created, public, when no list
    or topic has that name) or an existing list.
    """
    addr = normalise(address)
    if session.scalar(select(Subscriber.id).where(Subscriber.email_key == addr.key)):
        raise Conflict(
            f"{addr.email} is already a subscriber; to put them on another list: "
            f"newsletter subscribers lists add {addr.email} LIST"
        )
    entry = suppression.find(session, addr.key)
    if entry is not None:
        raise Conflict(
            f"{addr.email} is suppressed ({entry.reason}); it can only come back by "
            "subscribing and confirming again"
        )
    person = insert_new(session, addr, name=name, language=language, status=status, source=source)
    if person is None:  # a parallel request added them a moment ago
        raise Conflict(f"{addr.email} is already a subscriber")
    named = (mailing_lists.find(session, t) or topics_.ensure(session, t) for t in topics)
    chosen = [*lists, *named]
    for mailing_list in chosen:
        join(session, person, mailing_list)
    consent.record(session, person.id, consent.STAFF_ADD, context, [m.name for m in chosen])
    return person


def update(
    session: Session,
    person: Subscriber,
    context: consent.Context,
    *,
    name: str | None = None,
    language: str | None = None,
    topics: Iterable[MailingList] | None = None,
) -> bool:
    """Change name, language or topics (the preference centre); True if anything changed.

    Topics are set among the public ones (``set_topics``): lists are never left here.
    """
    changed = False
    if name is not None and name.strip()[:200] != person.name:
        person.name = name.strip()[:200]
        changed = True
    if language is not None and clean_language(language) != person.language:
        person.language = clean_language(language)
        changed = True
    if topics is not None and set_topics(session, person, topics):
        names = [m.name for m in subscribed_lists(session, person)]
        consent.record(session, person.id, consent.PREFERENCES, context, names)
        changed = True
    if changed:
        person.updated_at = utcnow()
        session.flush()
    return changed


def set_memberships(
    session: Session, person: Subscriber, wanted: Iterable[MailingList], context: consent.Context
) -> bool:
    """Staff set exactly which lists and topics (not archived) a person is on, hidden ones
    included; one consent entry records the result. True if anything changed."""
    from subscribers import lists as lists_  # lists counts through audience, which imports us

    chosen = {m.id for m in wanted}
    current = {m.id for m in subscribed_lists(session, person)}
    changed = False
    for target in lists_.all_lists(session):
        if target.id in chosen and target.id not in current:
            changed |= join(session, person, target)
        elif target.id in current and target.id not in chosen:
            sub = session.scalar(
                select(Subscription).where(
                    Subscription.subscriber_id == person.id, Subscription.list_id == target.id
                )
            )
            if sub is not None:
                sub.subscribed, sub.updated_at = False, utcnow()
                changed = True
    if changed:
        session.flush()
        names = [m.name for m in subscribed_lists(session, person)]
        consent.record(session, person.id, consent.STAFF_LISTS, context, names)
    return changed


def leave_list(
    session: Session, person: Subscriber, mailing_list: MailingList, context: consent.Context
) -> bool:
    """Take a person off one list, archived or not; True if they were on it.

    Unlike ``set_topics`` (a form that does not show a list leaves it alone), this
    names the list explicitly, so an archived list is changed too:
    it keeps its subscriptions for when it is brought back.
    """
    sub = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == person.id,
            Subscription.list_id == mailing_list.id,
            Subscription.subscribed.is_(True),
        )
    )
    if sub is None:
        return False
    now = utcnow()
    sub.subscribed = False
    sub.updated_at = now
    person.updated_at = now
    session.flush()
    names = [m.name for m in subscribed_lists(session, person)]
    consent.record(session, person.id, consent.PREFERENCES, context, names)
    return True


def claim_status(session: Session, person: Subscriber, status: Status, **values: object) -> bool:
    """Move ``person`` from the status read earlier to ``status`` in one conditional UPDATE.

    Of two requests that read the same status at once (two clicks on a link, a mail
    scanner beside the reader), exactly one changes the row and records the consent
    event; the other is told False and sees the fresh row. PostgreSQL makes the
    second UPDATE wait for the first to commit and then re-checks the condition;
    SQLite takes its write lock at the UPDATE and reads the latest commit there.
    """
    query = (
        sql_update(Subscriber)
        .where(Subscriber.id == person.id, Subscriber.status == person.status)
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    )
    won = cast("CursorResult[Any]", session.execute(query)).rowcount == 1
    if not won:
        session.refresh(person)
        return False
    set_committed_value(person, "status", status)
    for name, value in values.items():
        set_committed_value(person, name, value)
    return True


@dataclass(frozen=True, slots=True)
class Leaving:
    """One request to stop all mail to a person, and where it came from."""

    subscriber_id: int
    context: consent.Context
    evidence: str = ""


def unsubscribe(
    session: Session, person: Subscriber, context: consent.Context, *, evidence: str = ""
) -> bool:
    """Stop all mail to this person at once; True if they were not unsubscribed already."""
    changed = unsubscribe_all(session, [Leaving(person.id, context, evidence)])[0]
    session.refresh(person, ["status", "updated_at"])
    return bool(changed)


def unsubscribe_all(session: Session, leaving: Sequence[Leaving]) -> list[bool | None]:
    """Stop all mail to each person named, in the caller's transaction. For each request:
    True if it unsubscribed the person, False if they were blocked already, None if
    nobody has that id (erased or removed: nothing is sent to them anyway).

    One conditional UPDATE takes everyone still receiving mail. Of several requests
    for one person, here or in a parallel transaction, exactly one changes the row and
    records the consent event: PostgreSQL makes a parallel UPDATE wait for the commit
    and re-check, SQLite has one writer at a time. Every way of leaving suppresses the
    address; a bounced or complained address records the unsubscribe too, without
    changing its status. A group costs four statements whatever its size.
    """
    ids = sorted({one.subscriber_id for one in leaving})
    if not ids:
        return []
    claim = (
        sql_update(Subscriber)
        .where(Subscriber.id.in_(ids), Subscriber.status.not_in(list(BLOCKED)))
        .values(status=Status.UNSUBSCRIBED, updated_at=utcnow())
        .returning(Subscriber.id, Subscriber.email_key)
        .execution_options(synchronize_session=False)
    )
    keys = {row.id: row.email_key for row in session.execute(claim)}
    changed = set(keys)
    status = dict.fromkeys(changed, str(Status.UNSUBSCRIBED))
    rest = [sid for sid in ids if sid not in changed]  # blocked already, or nobody
    if rest:
        query = select(Subscriber.id, Subscriber.email_key, Subscriber.status)
        for row in session.execute(query.where(Subscriber.id.in_(rest))):
            keys[row.id], status[row.id] = row.email_key, row.status
    evidence: dict[int, str] = {}
    for one in leaving:
        evidence.setdefault(one.subscriber_id, one.evidence)
    entries = [(key, evidence[sid]) for sid, key in keys.items()]
    suppression.suppress_all(session, entries, suppression.UNSUBSCRIBED)
    results: list[bool | None] = []
    events: list[dict[str, Any]] = []
    for one in leaving:
        sid = one.subscriber_id
        if sid not in status:
            results.append(None)
            continue
        first = sid in changed
        changed.discard(sid)  # the first request for a person changed it; the rest did not
        results.append(first)
        if first or status[sid] in (Status.BOUNCED, Status.COMPLAINED):
            events.append(consent.entry(sid, consent.UNSUBSCRIBE, one.context))
    consent.record_all(session, events)
    return results


def mark(session: Session, person: Subscriber, status: Status, evidence: str = "") -> None:
    """Record a bounce or complaint: the status changes and the address is suppressed."""
    person.status = status
    person.updated_at = utcnow()
    reason = _STATUS_REASON.get(status)
    if reason:
        suppression.suppress(session, person.email_key, reason, evidence)
    session.flush()


def reactivate(session: Session, person: Subscriber, context: consent.Context) -> Subscriber:
    """Staff reverse an unsubscribe, bounce or complaint (with the person's new consent)."""
    suppression.lift(session, person.email_key)
    now = utcnow()
    person.status = Status.ACTIVE
    person.confirmed_at = person.confirmed_at or now
    person.updated_at = now
    consent.record(
        session,
        person.id,
        consent.REACTIVATE,
        context,
        [m.name for m in subscribed_lists(session, person)],
    )
    session.flush()
    return person


def remove(session: Session, person: Subscriber) -> None:
    """Delete a person added by mistake (no suppression: they may be added again)."""
    consent.anonymise(session, person.id)
    session.delete(person)
    session.flush()


def erase(session: Session, address: str, context: consent.Context) -> bool:
    """The right to erasure: personal data goes, the suppression hash stays.

    Works even for an address that is not on the list (it becomes suppressed),
    so a request can be honoured before an import brings the person in.
    Returns True if a person was removed.
    """
    addr = normalise(address)
    suppression.suppress(session, addr.key, suppression.ERASED)
    person = session.scalar(select(Subscriber).where(Subscriber.email_key == addr.key))
    if person is None:
        consent.record(session, None, consent.ERASE, context)
        return False
    consent.anonymise(session, person.id)
    session.execute(delete(Subscription).where(Subscription.subscriber_id == person.id))
    session.delete(person)
    session.flush()
    consent.record(session, None, consent.ERASE, context)
    return True
