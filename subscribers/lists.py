"""Lists and topics ("All briefings", "Ukraine"): create, find, rename, archive.

Lists are what a person subscribes to and a campaign goes to; topics are interests
inside a list (``subscribers.topics``). Both are rows of one table, found by name or
slug, case-insensitively, so staff and CSV files may write "ukraine", "Ukraine" or
"UKRAINE". See docs/audience.md.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from subscribers import audience
from subscribers.errors import Conflict, NotFound
from subscribers.models import Kind, MailingList
from subscribers.orm import utcnow
from subscribers.slugs import slugify


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or not slugify(name):
        raise Conflict("a list needs a name with at least one letter or digit")
    if len(name) > 200:
        raise Conflict("a list name may have at most 200 characters")
    return name


def find(session: Session, ref: str) -> MailingList | None:
    """The list whose name or slug is ``ref`` (case-insensitive), or None."""
    slug = slugify(ref)
    if not slug:
        return None
    return session.scalar(select(MailingList).where(MailingList.slug == slug))


def get(session: Session, ref: str) -> MailingList:
    """The list or topic ``ref``; raises ``NotFound``."""
    found = find(session, ref)
    if found is None:
        raise NotFound(f"no list or topic called {ref!r} (see `newsletter subscribers lists`)")
    return found


def get_list(session: Session, ref: str) -> MailingList:
    """The list ``ref`` (not a topic): what a campaign is sent to and a person joins."""
    found = get(session, ref)
    if found.is_topic:
        raise Conflict(
            f"{found.name!r} is a topic, not a list: send to a list and narrow it with "
            f"--topic {found.slug!r}, or subscribe the person to a list"
        )
    return found


def create(
    session: Session,
    name: str,
    description: str = "",
    *,
    kind: Kind = Kind.LIST,
    public: bool = True,
) -> MailingList:
    """A new list (or topic, with ``kind=Kind.TOPIC``); refuses a name already used."""
    name = _clean_name(name)
    existing = find(session, name)
    if existing is not None:
        raise Conflict(f"a {existing.kind} called {existing.name!r} already exists")
    mailing_list = MailingList(
        slug=slugify(name),
        name=name,
        description=description,
        archived=False,
        created_at=utcnow(),
        kind=kind,
        public=public,
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def ensure(session: Session, name: str) -> MailingList:
    """The list or topic called ``name``, created as a list if it does not exist yet."""
    return find(session, name) or create(session, name)


def ensure_default(session: Session, name: str) -> MailingList:
    """The default list (``NEWSLETTER_DEFAULT_LIST``), created the first time it is needed.

    Every web sign-up joins it, so a name that is taken by a topic is a set-up mistake
    worth one clear line rather than readers silently put on a topic.
    """
    found = find(session, name)
    if found is None:
        # The first sign-ups may arrive together: every one inserts the list if it is still
        # missing (a conflict on its name is no error), then all read the one that exists.
        clean = _clean_name(name)
        values = {
            "slug": slugify(clean),
            "name": clean,
            "description": "Everyone who subscribes on the web joins this list.",
            "archived": False,
            "created_at": utcnow(),
            "kind": Kind.LIST,
            "public": True,
        }
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(MailingList).values(**values)
        session.execute(statement.on_conflict_do_nothing(index_elements=["slug"]))
        found = get(session, name)
    if found.is_topic:
        raise Conflict(
            f"the default list {name!r} is a topic; set NEWSLETTER_DEFAULT_LIST to a list's name"
        )
    return found


def rename(session: Session, ref: str, new_name: str) -> MailingList:
    mailing_list = get(session, ref)
    new_name = _clean_name(new_name)
    other = find(session, new_name)
    if other is not None and other.id != mailing_list.id:
        raise Conflict(f"a list called {new_name!r} already exists")
    mailing_list.name = new_name
    mailing_list.slug = slugify(new_name)
    session.flush()
    return mailing_list


def archive(session: Session, ref: str, *, archived: bool = True) -> MailingList:
    """Hide a list from forms and new imports; its subscriptions are kept."""
    mailing_list = get(session, ref)
    mailing_list.archived = archived
    session.flush()
    return mailing_list


def all_lists(
    session: Session, *, include_archived: bool = False, kind: Kind | None = None
) -> list[MailingList]:
    """Lists and topics by name (only one kind when ``kind`` is given)."""
    query = select(MailingList).order_by(MailingList.name)
    if not include_archived:
        query = query.where(MailingList.archived.is_(False))
    if kind is not None:
        query = query.where(MailingList.kind == kind)
    return list(session.scalars(query))


def active_counts(session: Session) -> dict[int, int]:
    """People who may be mailed, per list or topic id (``audience.counts``)."""
    return audience.counts(session)
