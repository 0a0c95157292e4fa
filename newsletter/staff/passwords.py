"""Password rules and hashing: argon2id, length, and the passwords attackers try first.

The rule is NIST SP 800-63B's: long enough, not on a list of common or breached passwords, not
built from the account's own address; no composition rules, which only make people write
passwords down.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from newsletter.errors import NewsletterError

MIN_LENGTH = 12
MAX_LENGTH = 256  # argon2 would hash a megabyte; nobody types one

_HASHER = PasswordHasher()  # argon2id with the library's current recommended cost


class WeakPassword(NewsletterError, ValueError):
    """The password breaks a rule; the message says which, in plain words."""


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    text = resources.files("newsletter.staff").joinpath("common-passwords.txt").read_text()
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _skeleton(password: str) -> str:
    """Lower case with digits and symbols dropped: 'Password123!!' and 'password' match."""
    return re.sub(r"[^a-z]", "", password.lower())


def check(password: str, email: str = "", organisation: str = "") -> None:
    """Raise ``WeakPassword`` when ``password`` must not be used."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password may have at most {MAX_LENGTH} characters")
    lowered, skeleton = password.lower(), _skeleton(password)
    common = _common()
    if lowered in common or skeleton in common or len(set(lowered)) < 4:
        raise WeakPassword("that password is one attackers try first; choose another")
    local = email.split("@", 1)[0].lower()
    words = [w for w in (local, *organisation.lower().split()) if len(w) >= 4]
    if any(w in lowered for w in words) and len(skeleton) - max(map(len, words)) < 8:
        raise WeakPassword("the password is too close to your address or the organisation's name")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored: str, password: str) -> bool:
    """True when ``password`` matches; an empty or damaged hash never matches."""
    if not stored:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return bool(stored) and _HASHER.check_needs_rehash(stored)
