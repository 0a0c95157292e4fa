"""Whose copy of a briefing the preview and the test send show: the sample reader's, a reader
following some topics, or a real reader's (looked up by address, only read).

Which sections come first is ``briefing.topics.first_for``, the rule ``briefing render
--topics`` uses; this module only turns what staff chose into topic names for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from newsletter.briefing import topics as section_topics
from newsletter.briefing.model import Briefing
from subscribers import people
from subscribers import topics as subscriber_topics
from subscribers.errors import InvalidAddress

__all__ = ["Copy", "copy_for", "offered"]


@dataclass(frozen=True)
class Copy:
    """The copy to show: its topics, the sections it puts first, and one line saying so."""

    topics: tuple[str, ...] = ()  # the organisation's names of the topics followed
    reader: str = ""  # the address looked up, as typed
    first: tuple[int, ...] = ()  # indices of the sections under "Your topics"
    note: str = ""
    unknown: bool = False  # the address is nobody on the list

    @property
    def query(self) -> str:
        """The query string that shows this copy again (for the preview's frames)."""
        pairs = [("reader", self.reader)] if self.reader else [("topic", t) for t in self.topics]
        return urlencode(pairs)


def offered(session: Session) -> list[str]:
    """The topics a copy may follow: the organisation's, public and hidden, by name."""
    return [topic.name for topic in subscriber_topics.current(session)]


def copy_for(
    session: Session, briefing: Briefing, ticked: Iterable[str] = (), reader: str = ""
) -> Copy:
    """The copy of a reader following the ``ticked`` topics, or of the person at ``reader``
    (their chosen topics); nothing is stored, sent or published."""
    known = subscriber_topics.current(session)
    reader = reader.strip()
    if reader:
        try:
            person = people.find(session, reader)
        except InvalidAddress:
            person = None
        if person is None:
            note = f"Nobody with the address {reader!r} is on the list: this is the paper's order."
            return Copy(reader=reader, note=note, unknown=True)
        ids = set(subscriber_topics.chosen_by(session, [person.id]).get(person.id, ()))
        chosen = [t for t in known if t.id in ids]
        who = f"{person.email}'s copy"
    else:
        wanted = {section_topics.fold(t) for t in ticked}
        chosen = [t for t in known if section_topics.fold(t.name) in wanted]
        who = "The copy of a reader who follows"
    names = tuple(t.name for t in chosen)
    # A section may name a topic by its slug, as the campaign's composer reads it.
    first = section_topics.first_for(briefing, [*names, *(t.slug for t in chosen)])
    if reader and not names:
        note = f"{who}: they follow no topic, so this is the paper's order."
    elif not names:
        note = ""
    else:
        numbers = ", ".join(str(briefing.sections[i].number) for i in first)
        order = (
            f"section{'s' if len(first) > 1 else ''} {numbers} first, under “Your topics”"
            if first
            else "no section is on them, so this is the paper's order"
        )
        follows = f" (follows {', '.join(names)})" if reader else f" {', '.join(names)}"
        note = f"{who}{follows}: {order}."
    return Copy(names, reader, first, note)
