"""The suppression list: addresses never to be mailed, kept as hashes so it outlives erasure.

Bounce and complaint handling, unsubscribes and erasure all add to it; every
send path and the importer consult it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from subscribers.addresses import address_hash
from subscribers.models import Suppression
from subscribers.orm import utcnow

UNSUBSCRIBED = "unsubscribed"
HARD_BOUNCE = "hard-bounce"
SOFT_BOUNCE = "soft-bounce"
COMPLAINT = "complaint"
ERASED = "erased"

_TABLE: Table = Suppression.__table__  # type: ignore[assignment]
_INSERT = {
    name: dialect.insert(_TABLE).on_conflict_do_nothing(index_elements=["address_hash"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
STAFF = "staff"

#: Reasons a person may lift themselves by confirming a new subscription. A bounce is one:
#: the confirmation mail reaching them and being clicked proves the address works again
#: (a mailbox emptied, a server back). A complaint is not: only staff lift it.
SELF_LIFTABLE = frozenset({UNSUBSCRIBED, ERASED, HARD_BOUNCE, SOFT_BOUNCE})


def find(session: Session, key: str) -> Suppression | None:
    """The suppression entry of an address key (see ``addresses.normalise``), if any."""
    return session.scalar(select(Suppression).where(Suppression.address_hash == address_hash(key)))


def is_suppressed(session: Session, key: str) -> bool:
    return find(session, key) is not None


def suppress(session: Session, key: str, reason: str, evidence: str = "") -> None:
    """Add an address; an existing entry keeps its first reason (the stronger evidence)."""
    suppress_all(session, [(key, evidence)], reason)


def suppress_all(session: Session, entries: Iterable[tuple[str, str]], reason: str) -> None:
    """Add each ``(address key, evidence)``, as ``suppress`` does, in one statement.

    ``ON CONFLICT DO NOTHING``: every unsubscribe runs it, and a read followed by an
    ORM insert cost three times as much; a batch of unsubscribes sends its rows at once.
    """
    now = utcnow()
    values = [
        {"address_hash": address_hash(key), "reason": reason, "evidence": note, "created_at": now}
        for key, note in entries
    ]
    if values:
        conn = session.connection()
        conn.execute(_INSERT[conn.dialect.name].values(values))


def lift(session: Session, key: str) -> bool:
    """Remove an address from the list; True if it was there."""
    query = delete(Suppression).where(Suppression.address_hash == address_hash(key))
    result = session.execute(query)
    return bool(getattr(result, "rowcount", 0))
