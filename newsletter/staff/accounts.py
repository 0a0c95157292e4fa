"""Staff accounts: who may sign in to the console, and with which role.

Accounts are made from the command line first (``newsletter staff add``), so the first owner
never depends on a web page that anyone could reach. A new account has no password: it gets a
one-time link, and only the person who opens it chooses the password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsletter.errors import Conflict, NotFound, TokenError
from newsletter.staff import passwords
from newsletter.staff.models import Role, StaffLink, StaffMember, StaffSession
from subscribers.addresses import normalise
from subscribers.orm import utcnow

LINK_LIFETIME = {"welcome": timedelta(days=3), "reset": timedelta(hours=1)}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_of(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise Conflict(f"unknown role {text!r}: use one of {names}") from None


def find(session: Session, email: str) -> StaffMember | None:
    key = normalise(email).key
    return session.scalar(select(StaffMember).where(StaffMember.email_key == key))


def get(session: Session, email: str) -> StaffMember:
    member = find(session, email)
    if member is None:
        raise NotFound(f"no staff account for {email}")
    return member


def all_members(session: Session) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).order_by(StaffMember.email_key)))


def add(session: Session, email: str, role: Role, name: str = "") -> StaffMember:
    address = normalise(email)
    if find(session, address.email) is not None:
        raise Conflict(f"{address.email} already has a staff account")
    member = StaffMember(email=address.email, email_key=address.key, name=name, role=role)
    session.add(member)
    session.flush()
    return member


def _owners(session: Session) -> int:
    query = select(func.count()).where(StaffMember.role == Role.OWNER, ~StaffMember.disabled)
    return int(session.scalar(query) or 0)


def set_role(session: Session, member: StaffMember, role: Role) -> None:
    if member.role == Role.OWNER and role != Role.OWNER and _owners(session) <= 1:
        raise Conflict("this is the last owner: make someone else owner first")
    member.role = role
    session.flush()


def remove(session: Session, member: StaffMember) -> None:
    if member.role == Role.OWNER and _owners(session) <= 1:
        raise Conflict("this is the last owner: make someone else owner first")
    session.delete(member)
    session.flush()


def issue_link(session: Session, member: StaffMember, purpose: str, now: datetime) -> str:
    """A one-time token for ``/admin/password/{token}``; older unused links stop working."""
    session.execute(
        delete(StaffLink).where(StaffLink.staff_id == member.id, StaffLink.used_at.is_(None))
    )
    token = secrets.token_urlsafe(32)
    session.add(
        StaffLink(
            token_hash=token_hash(token),
            staff_id=member.id,
            purpose=purpose,
            expires=now + LINK_LIFETIME[purpose],
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class OpenLink:
    member: StaffMember
    purpose: str


def open_link(session: Session, token: str, now: datetime) -> OpenLink:
    link = session.get(StaffLink, token_hash(token))
    if link is None or link.used_at is not None or link.expires <= now:
        raise TokenError("this link has expired or was already used; ask an owner for a new one")
    member = session.get(StaffMember, link.staff_id)
    if member is None or member.disabled:
        raise TokenError("this link has expired or was already used; ask an owner for a new one")
    return OpenLink(member, link.purpose)


def use_link(session: Session, token: str, password: str, now: datetime) -> StaffMember:
    """Set the password through a one-time link; every other session of the account ends."""
    opened = open_link(session, token, now)
    set_password(session, opened.member, password, organisation="")
    link = session.get_one(StaffLink, token_hash(token))
    link.used_at = now
    session.flush()
    return opened.member


def set_password(session: Session, member: StaffMember, password: str, organisation: str) -> None:
    passwords.check(password, member.email, organisation)
    member.password_hash = passwords.hash_password(password)
    session.execute(delete(StaffSession).where(StaffSession.staff_id == member.id))
    session.flush()


def utc_now() -> datetime:
    return utcnow()
