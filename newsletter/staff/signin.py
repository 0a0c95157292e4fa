"""Signing in and staying signed in: password, optional second factor, sessions, locks.

Sessions live in the database (every web process sees a sign-out at once); the browser holds
a random id and the table only its hash. A session ends on sign-out, after an idle spell, or
when the password changes. Failed attempts are counted per account address and per network;
past the limit both the real and the unknown address get the same "locked" answer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter.errors import NewsletterError
from newsletter.staff import passwords
from newsletter.staff.accounts import find, issue_link, token_hash
from newsletter.staff.models import SignInFailure, StaffMember, StaffSession
from subscribers.addresses import normalise
from subscribers.errors import InvalidAddress

ACCOUNT_LIMIT = 10  # failed passwords for one address before it is locked
NETWORK_LIMIT = 50  # failed attempts from one network (an IPv4 address or an IPv6 /64)
LOCK_FOR = timedelta(minutes=15)
TOUCH_EVERY = timedelta(seconds=60)  # write last_seen at most this often per session
# Verified against when the address is unknown, so both answers take as long.
_DUMMY_HASH = passwords.hash_password("not a password anyone has: " + secrets.token_hex(8))


class SignInRefused(NewsletterError, PermissionError):
    """Wrong address, password or code; or locked. The message never says which account exists."""


WRONG = "that address and password do not match an account"
LOCKED = (
    "too many failed attempts: sign-in is locked for {minutes} minutes for this account or "
    "from this network. An owner can send you a password-reset link."
)


@dataclass(frozen=True)
class Started:
    """A new browser session: ``token`` goes in the cookie; ``needs_code`` asks for TOTP."""

    token: str
    member: StaffMember
    needs_code: bool


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x1f{value}".encode()).hexdigest()


def _locked(session: Session, keys: list[str], now: datetime) -> datetime | None:
    rows = session.scalars(select(SignInFailure).where(SignInFailure.key_hash.in_(keys)))
    until = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
    return max(until) if until else None


def _fail(session: Session, key: str, limit: int, now: datetime) -> None:
    row = session.get(SignInFailure, key)
    if row is None:
        row = SignInFailure(key_hash=key, failures=0, first_at=now)
        session.add(row)
    elif now - row.first_at > LOCK_FOR:
        row.failures, row.first_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + LOCK_FOR
    session.flush()


def _refuse_if_locked(session: Session, keys: list[str], now: datetime) -> None:
    until = _locked(session, keys, now)
    if until is not None:
        minutes = max(1, int((until - now).total_seconds() + 59) // 60)
        raise SignInRefused(LOCKED.format(minutes=minutes))


def sign_in(session: Session, email: str, password: str, network: str, now: datetime) -> Started:
    """Check the password and open a session (half open when a second factor is set up)."""
    try:
        key = normalise(email).key
    except InvalidAddress:
        key = email.strip().lower()
    keys = [_key("account", key), _key("network", network)]
    _refuse_if_locked(session, keys, now)
    member = find(session, key) if "@" in key else None
    usable = member is not None and not member.disabled and bool(member.password_hash)
    stored = member.password_hash if usable and member is not None else _DUMMY_HASH
    if not passwords.verify(stored, password) or member is None or not usable:
        _fail(session, keys[0], ACCOUNT_LIMIT, now)
        _fail(session, keys[1], NETWORK_LIMIT, now)
        _refuse_if_locked(session, keys, now)
        raise SignInRefused(WRONG)
    session.execute(delete(SignInFailure).where(SignInFailure.key_hash == keys[0]))
    if passwords.needs_rehash(member.password_hash):
        member.password_hash = passwords.hash_password(password)
    needs_code = bool(member.totp_secret)
    return Started(_open(session, member, network, now, needs_code), member, needs_code)


def _open(session: Session, member: StaffMember, network: str, now: datetime, pending: bool) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id_hash=token_hash(token),
            staff_id=member.id,
            created_at=now,
            last_seen=now,
            ip=network,
            pending_second_factor=pending,
        )
    )
    session.flush()
    return token


def second_factor(session: Session, token: str, code: str, network: str, now: datetime) -> Started:
    """Finish a half-open session with a TOTP or recovery code, under a *new* session id."""
    row = session.get(StaffSession, token_hash(token))
    member = session.get(StaffMember, row.staff_id) if row is not None else None
    if row is None or member is None or not row.pending_second_factor:
        raise SignInRefused("the sign-in has expired; start again")
    keys = [_key("account", member.email_key), _key("network", network)]
    _refuse_if_locked(session, keys, now)
    code = code.strip().replace(" ", "")
    if not _code_ok(member, code, now):
        _fail(session, keys[0], ACCOUNT_LIMIT, now)
        _fail(session, keys[1], NETWORK_LIMIT, now)
        _refuse_if_locked(session, keys, now)
        raise SignInRefused("that code is not right; check the time on your phone and try again")
    session.delete(row)
    session.execute(delete(SignInFailure).where(SignInFailure.key_hash == keys[0]))
    return Started(_open(session, member, network, now, pending=False), member, False)


def _code_ok(member: StaffMember, code: str, now: datetime) -> bool:
    if code.isdigit() and len(code) == 6:
        return pyotp.TOTP(member.totp_secret).verify(code, for_time=now, valid_window=1)
    hashed = token_hash(code.lower())
    for stored in member.recovery_codes:
        if hmac.compare_digest(stored, hashed):
            member.recovery_codes = [c for c in member.recovery_codes if c != stored]
            return True
    return False


def current(session: Session, token: str, now: datetime, idle: timedelta) -> StaffMember | None:
    """The signed-in member for a cookie, or None (unknown, half open, idle too long)."""
    if not token:
        return None
    row = session.get(StaffSession, token_hash(token))
    if row is None or row.pending_second_factor:
        return None
    if now - row.last_seen > idle:
        session.delete(row)
        session.flush()
        return None
    member = session.get(StaffMember, row.staff_id)
    if member is None or member.disabled:
        return None
    if now - row.last_seen > TOUCH_EVERY:
        row.last_seen = now
    return member


def sign_out(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.id_hash == token_hash(token)))


def sign_out_everywhere(session: Session, member: StaffMember) -> int:
    result = session.execute(delete(StaffSession).where(StaffSession.staff_id == member.id))
    return int(getattr(result, "rowcount", 0) or 0)


def new_totp_secret() -> str:
    """A new secret to show the staff member; stored only once ``confirm_totp`` sees a code."""
    return pyotp.random_base32()


def totp_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` address authenticator apps accept (typed or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer) if secret else ""


def confirm_totp(member: StaffMember, secret: str, code: str, now: datetime) -> list[str]:
    """Turn the second factor on; returns ten one-time recovery codes to show once."""
    if not pyotp.TOTP(secret).verify(code.strip().replace(" ", ""), for_time=now, valid_window=1):
        raise SignInRefused("that code is not right; check the time on your phone and try again")
    codes = [secrets.token_hex(5) for _ in range(10)]
    member.totp_secret = secret
    member.recovery_codes = [token_hash(c) for c in codes]
    return codes


RESET_LIMIT = 5  # reset links asked for one address (or from one network) per lock period


def reset_requested(session: Session, email: str, network: str, now: datetime) -> str | None:
    """A reset link's token when ``email`` has an account, else None; counted like failures,
    so nobody can flood a colleague's inbox or probe addresses faster than sign-in allows."""
    try:
        key = normalise(email).key
    except InvalidAddress:
        return None
    keys = [_key("reset", key), _key("reset-network", network)]
    _refuse_if_locked(session, keys, now)
    _fail(session, keys[0], RESET_LIMIT, now)
    _fail(session, keys[1], NETWORK_LIMIT, now)
    member = find(session, key)
    if member is None or member.disabled:
        return None
    return issue_link(session, member, "reset", now)
