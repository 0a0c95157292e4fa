"""Finding people by part of their address or name, whatever the accents and case.

Each person carries a search key: their address and name folded (lower case,
accents taken off, dashes and apostrophes made plain), which ``key`` makes and every
write of an address or name stores. The query is folded the same way, so "chloe"
and "CHLOÉ" both find "Chloé". The key is indexed by trigrams, so a substring is
found without reading every row: a ``pg_trgm`` GIN index on PostgreSQL, an FTS5
``trigram`` table (``subscriber_search``, kept in step by triggers) on SQLite. That
table keeps no positions (cheaper to write): it is asked with ``LIKE``, which its
trigrams answer with a few rows to spare, and the exact substring is confirmed on those.
Trigrams need three characters: a shorter query matches the start of a word
(see ``matches``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, column, func, select, table
from sqlalchemy.orm import Session, selectinload

from subscribers.folding import fold
from subscribers.models import MailingList, Status, Subscriber, Subscription

#: Shortest query the trigram indexes can answer; shorter ones match the start.
TRIGRAM = 3
#: The FTS5 table over ``subscribers.search_key`` on SQLite (migrations sub_0005, sub_0006).
FTS_TABLE = "subscriber_search"
_FTS = table(FTS_TABLE, column("rowid"), column("search_key"))
_LAST = "\U0010ffff"  # sorts after every character: the end of a prefix range


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(session: Session, text: str) -> ColumnElement[bool] | None:
    """The condition "the person's key contains ``text`` (folded)"; None for blank text.

    Shorter than a trigram, the query must start a word: the address (whose start is
    a word's, see ``folding.key``) or a word of the name ("ng" finds Sam Ng). With two
    characters the space before them makes up the trigram; one character matches
    the start of the address through the ordinary index on the key.
    """
    folded = fold(text)
    if not folded:
        return None
    postgres = session.get_bind().dialect.name == "postgresql"
    if len(folded) + 1 < TRIGRAM:
        if postgres:  # the index has text_pattern_ops: LIKE 'x%' uses it
            return Subscriber.search_key.like(f" {_like_escape(folded)}%", escape="\\")
        start = f" {folded}"
        return and_(Subscriber.search_key >= start, Subscriber.search_key < start + _LAST)
    return _contains(folded if len(folded) >= TRIGRAM else f" {folded}", postgres)


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
    found = Subscriber.id.in_(select(_FTS.c.rowid).where(_fts_like(folded)))
    return and_(found, _holds(folded))


def _fts_like(folded: str) -> ColumnElement[bool]:
    """Rows of the trigram table that may hold ``folded``: unescaped (FTS5 answers no
    ``ESCAPE`` from its index), so a ``%`` or ``_`` in it matches more, never less."""
    return _FTS.c.search_key.like(f"%{folded}%")


def _holds(folded: str) -> ColumnElement[bool]:
    """The person's key holds ``folded`` exactly (checked on the rows the index found)."""
    return func.instr(Subscriber.search_key, folded) > 0


def query(
    session: Session,
    *,
    status: Status | None = None,
    topic: MailingList | None = None,
    text: str = "",
    limit: int | None = None,
) -> Select[Subscriber]:
    """The statement ``search`` runs (apart so a test can ask the database for its plan).

    On SQLite a text of two characters or more is looked up by joining the FTS5 table and
    ordering by its rowid (the person's id), which FTS5 returns in order: the first 51
    of a hundred thousand matches come without reading the rest.
    """
    folded = fold(text)
    if len(folded) >= TRIGRAM - 1 and session.get_bind().dialect.name == "sqlite":
        phrase = folded if len(folded) >= TRIGRAM else f" {folded}"
        statement = select(Subscriber).join(_FTS, _FTS.c.rowid == Subscriber.id)
        statement = statement.where(_fts_like(phrase), _holds(phrase)).order_by(_FTS.c.rowid)
    else:
        statement = select(Subscriber).order_by(Subscriber.id)
        condition = matches(session, text)
        if condition is not None:
            statement = statement.where(condition)
    statement = statement.options(selectinload(Subscriber.subscriptions))
    if status is not None:
        statement = statement.where(Subscriber.status == status)
    if topic is not None:
        statement = statement.join(Subscription, Subscription.subscriber_id == Subscriber.id).where(
            Subscription.list_id == topic.id, Subscription.subscribed.is_(True)
        )
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
