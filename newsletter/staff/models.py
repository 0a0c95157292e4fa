"""Tables of the staff console: accounts, sign-in sessions, one-time links, the audit trail.

Secrets are stored only as hashes: a password as argon2id, a session id and a one-time link
as SHA-256 (they are long random values, so a fast hash is enough and lets us look them up).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from subscribers.orm import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    """Ordered: each role may do everything the one before it may."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class StaffMember(Base):
    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER)
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    totp_secret: Mapped[str] = mapped_column(String(64), default="")
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list)  # SHA-256 hex
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffSession(Base):
    """A signed-in browser. The cookie holds the id; the table holds only its hash."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    # Half signed in: the password was right and the second factor is still to come.
    pending_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)


class StaffLink(Base):
    """A one-time link: set the first password, or reset a forgotten one."""

    __tablename__ = "staff_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # welcome, reset
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEvent(Base):
    """One staff action that changed something or exported personal data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))  # a staff address, or "cli:USER"
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(400), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class SignInFailure(Base):
    """Failed sign-ins per account address or per network, hashed; an unknown address is
    counted like a real one, so a lock says nothing about whether an account exists."""

    __tablename__ = "staff_sign_in_failures"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsoleImport(Base):
    """A subscriber import started from the console: how far it got and what it did.

    Kept in the database, not in the memory of the process running it, so the progress
    page answers from whichever web process or machine the browser reaches."""

    __tablename__ = "console_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff: Mapped[str] = mapped_column(String(320), default="")
    size: Mapped[int] = mapped_column(BigInteger)  # bytes in the uploaded file
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    read_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
    # {"summary": [[label, count], ...], "notes": [...], "rejected": file name}
    outcome: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
