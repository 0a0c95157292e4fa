"""The suppression list: addresses never to be mailed, kept as hashes so it outlives erasure.

Bounce and complaint handling, unsubscribes and erasure all add to it; every
send path and the importer consult it.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers.addresses import address_hash
from subscribers.models import Suppression
from subscribers.orm import utcnow

UNSUBSCRIBED = "unsubscribed"
HARD_BOUNCE = "hard-bounce"
SOFT_BOUNCE = "soft-bounce"
COMPLAINT = "complaint"
ERASED = "erased"
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


def suppress(session: Session, key: str, reason: str, evidence: str = "") -> Suppression:
    """Add an address; an existing entry keeps its first reason (the stronger evidence)."""
    existing = find(session, key)
    if existing is not None:
        return existing
    entry = Suppression(
        address_hash=address_hash(key), reason=reason, evidence=evidence, created_at=utcnow()
    )
    session.add(entry)
    session.flush()
    return entry


def lift(session: Session, key: str) -> bool:
    """Remove an address from the list; True if it was there."""
    query = delete(Suppression).where(Suppression.address_hash == address_hash(key))
    result = session.execute(query)
    return bool(getattr(result, "rowcount", 0))
