"""Finding people by part of their address or name, whatever the accents and case.

Each person carries a search key: their address and name folded (lower case,
accents taken off, dashes and apostrophes made plain), which ``key`` makes and every
write of an address or name stores. The query is folded the same way, so "chloe"
and "CHLOÉ" both find "Chloé". The key is indexed by trigrams, so a substring is
found without reading every row: a ``pg_trgm`` GIN index on PostgreSQL, an FTS5
``trigram`` table (``subscriber_search``, kept in step by triggers) on SQLite.
Trigrams need three characters: a shorter query matches the start of the address
(through an ordinary index) or, with two, the start of a word of the name.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, column, func, or_, select, table
from sqlalchemy.orm import Session, selectinload

from subscribers.folding import fold
from subscribers.models import MailingList, Status, Subscriber, Subscription

#: Shortest query the trigram indexes can answer; shorter ones match the start.
TRIGRAM = 3
#: The FTS5 table over ``subscribers.search_key`` on SQLite (see the sub_0005 migration).
FTS_TABLE = "subscriber_search"
_FTS = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
_LAST = "\U0010ffff"  # sorts after every character: the end of a prefix range


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(session: Session, text: str) -> ColumnElement[bool] | None:
    """The condition "the person's key contains ``text`` (folded)"; None for blank text.

    Shorter than a trigram, the query matches the start of the address, and with two
    characters the start of any word of the name too ("ng" finds Sam Ng): the space
    before the word makes the three characters a trigram index can find.
    """
    folded = fold(text)
    if not folded:
        return None
    postgres = session.get_bind().dialect.name == "postgresql"
    if len(folded) < TRIGRAM:
        start = _starts(folded, postgres)
        return start if len(folded) + 1 < TRIGRAM else or_(start, _contains(f" {folded}", postgres))
    return _contains(folded, postgres)


def _starts(folded: str, postgres: bool) -> ColumnElement[bool]:
    """Keys starting with ``folded``, through the ordinary index on the key."""
    if postgres:  # the index has text_pattern_ops: LIKE 'x%' uses it
        return Subscriber.search_key.like(f"{_like_escape(folded)}%", escape="\\")
    return and_(Subscriber.search_key >= folded, Subscriber.search_key < folded + _LAST)


def _contains(folded: str, postgres: bool) -> ColumnElement[bool]:
    """Keys containing ``folded`` (three characters or more), through the trigram index."""
    if postgres:
        contains = Subscriber.search_key.like(f"%{_like_escape(folded)}%", escape="\\")
        local, at, domain = folded.partition("@")
        if not (at and domain and len(local) + 1 >= TRIGRAM):
            return contains
        # A domain is shared by thousands, so its trigrams are in long posting lists the
        # index would read in full; the part up to the @ picks the person out. The index
        # looks for that part, and the whole query is checked on the few rows it finds.
        picked = Subscriber.search_key.like(f"%{_like_escape(local)}@%", escape="\\")
        return and_(picked, func.strpos(Subscriber.search_key, folded) > 0)
    phrase = '"' + folded.replace('"', '""') + '"'  # trigram phrase: the exact substring
    found = select(_FTS.c.rowid).where(_FTS.c[FTS_TABLE].op("MATCH")(phrase))
    return Subscriber.id.in_(found)


def query(
    session: Session,
    *,
    status: Status | None = None,
    topic: MailingList | None = None,
    text: str = "",
    limit: int | None = None,
) -> Select[Subscriber]:
    """The statement ``search`` runs (apart so a test can ask the database for its plan)."""
    statement = select(Subscriber).order_by(Subscriber.id)
    statement = statement.options(selectinload(Subscriber.subscriptions))
    if status is not None:
        statement = statement.where(Subscriber.status == status)
    if topic is not None:
        statement = statement.join(Subscription, Subscription.subscriber_id == Subscriber.id).where(
            Subscription.list_id == topic.id, Subscription.subscribed.is_(True)
        )
    condition = matches(session, text)
    if condition is not None:
        statement = statement.where(condition)
    if limit is not None:
        statement = statement.limit(limit)
    return statement


def search(
    session: Session,
    *,
    status: Status | None = None,
    topic: MailingList | None = None,
    text: str = "",
    limit: int | None = None,
) -> list[Subscriber]:
    """People filtered by status, topic and a part of address or name, oldest first."""
    statement = query(session, status=status, topic=topic, text=text, limit=limit)
    return list(session.scalars(statement))
