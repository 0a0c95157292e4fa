"""The topics the subscribe form offers, kept in memory for a few seconds.

Every view of ``/subscribe`` needs them and they change a few times a year, so a web
process reads them at most once every ``FRESH_FOR`` seconds. A change committed through
any session of this process (the console, a command in the same process) is seen at
once: the ORM says when a list row was written and the next view reads them again. A
change made elsewhere (another process, another machine) is seen within ``FRESH_FOR``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from subscribers import topics
from subscribers.models import MailingList

FRESH_FOR = 5.0  # seconds a process offers the topics it read without asking again
_CHANGED = "newsletter_lists_changed"  # in a session's ``info`` between flush and commit


@dataclass(frozen=True)
class Topic:
    """What the form shows of a topic."""

    id: int
    slug: str
    name: str
    description: str


class _Changes:
    """Counts commits that wrote a list row, in this process."""

    def __init__(self) -> None:
        self.count = 0

    def after_flush(self, session: Session, _context: Any) -> None:
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, MailingList):
                session.info[_CHANGED] = True
                return

    def after_commit(self, session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            self.count += 1

    def after_rollback(self, session: Session) -> None:
        session.info.pop(_CHANGED, None)


changes = _Changes()
event.listen(Session, "after_flush", changes.after_flush)
event.listen(Session, "after_commit", changes.after_commit)
event.listen(Session, "after_soft_rollback", lambda session, _tx: changes.after_rollback(session))


class PublicTopics:
    """``subscribers.topics.public_topics``, remembered briefly."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        fresh_for: float = FRESH_FOR,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.sessions = sessions
        self.fresh_for = fresh_for
        self.clock = clock
        self._kept: tuple[int, float, list[Topic]] | None = None
        self._lock = threading.Lock()

    def fresh(self) -> list[Topic] | None:
        """The topics if read recently and unchanged since in this process; else None."""
        kept = self._kept
        if kept is None or kept[0] != changes.count or self.clock() - kept[1] >= self.fresh_for:
            return None
        return kept[2]

    def load(self) -> list[Topic]:
        """Read them now (blocking: run it on a worker thread) and remember them."""
        with self._lock:
            found = self.fresh()
            if found is not None:
                return found
            seen = changes.count  # before reading: a change committed meanwhile reads again
            with self.sessions() as session:
                found = [
                    Topic(t.id, t.slug, t.name, t.description)
                    for t in topics.public_topics(session)
                ]
            self._kept = (seen, self.clock(), found)
            return found
