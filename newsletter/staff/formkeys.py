"""One-time keys on forms that must act once (sending a campaign).

A double click, or a page posted again from the browser's history, sends the same form
twice. The form carries a random key; the first post spends it in the same transaction as
its action, and the key's primary key refuses a second spend even when both posts run at
once, so the second one is shown what the first did instead of doing it again.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.errors import Conflict
from subscribers.orm import Base, UTCDateTime, utcnow

KEY_LENGTH = 64


class SpentFormKey(Base):
    __tablename__ = "staff_form_keys"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    target: Mapped[str] = mapped_column(String(200))  # the page the first post led to
    spent_by: Mapped[str] = mapped_column(String(320), default="")
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeySpent(Conflict):
    """The form was already sent once; ``target`` is where its first post led ("" if not
    known yet)."""

    def __init__(self, target: str) -> None:
        super().__init__("this form was already sent; nothing was done twice")
        self.target = target


def issue() -> str:
    """A new key for one form as it is shown."""
    return secrets.token_urlsafe(32)


def usable(key: str) -> bool:
    """A key the form could have been given (anything else is refused before any work)."""
    return 20 <= len(key) <= KEY_LENGTH and key.replace("-", "").replace("_", "").isalnum()


def check(session: Session, key: str) -> None:
    """Raise ``KeySpent`` if ``key`` was spent already (the usual, one-after-the-other case)."""
    spent = session.get(SpentFormKey, key)
    if spent is not None:
        raise KeySpent(spent.target)


def spend(session: Session, key: str, target: str, actor: str) -> None:
    """Record ``key`` as used, in the caller's transaction (``KeySpent`` if a parallel post won).

    After ``KeySpent`` the caller's transaction must be rolled back: it holds the second,
    refused action; the first one's ``target`` can then be read in a new transaction."""
    session.add(SpentFormKey(key=key, target=target[:200], spent_by=actor, spent_at=utcnow()))
    try:
        session.flush()
    except IntegrityError:
        raise KeySpent("") from None


def target(session: Session, key: str) -> str:
    """Where the post that spent ``key`` led ("" if it is not spent)."""
    spent = session.get(SpentFormKey, key)
    return spent.target if spent is not None else ""
