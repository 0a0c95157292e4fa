"""Email addresses: validation, normalisation, the case-insensitive key and the suppression hash.

``email-validator`` is the authority but, called for every address, it would be most
of a million-row import's time. Plain ASCII addresses (nearly all of them) take a regular
expression fast path that accepts only a subset of what the library accepts and
normalises identically; everything else goes to the library. A property test
keeps the two in agreement.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from sqlalchemy import ColumnElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from subscribers.errors import InvalidAddress

# Only reserved names that are single labels exist today; the fast path checks the TLD.
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_ATOM = r"[A-Za-z0-9_+\-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_FAST = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})")
_FAST_MATCH = _FAST.fullmatch


@dataclass(frozen=True, slots=True)
class Address:
    """A usable address: ``email`` as stored and shown, ``key`` for uniqueness."""

    email: str
    key: str


def fast_address(text: str) -> tuple[str, str] | None:
    """``(email, key)`` when ``text`` (already stripped) is a plain ASCII address, else
    None (undecided: ask ``normalise``). The importer's hot path, hence a tuple."""
    match = _FAST_MATCH(text)
    if match is None:
        return None
    local, domain = match.groups()
    if len(text) > 64 and (len(local) > 64 or len(text) > 254 or len(domain) > 253):
        return None  # (a text of at most 64 characters cannot break any of these limits)
    domain = domain.lower()
    if "--" in domain or domain.rpartition(".")[2] in _SPECIAL_USE:
        return None  # IDNA hyphen rules and reserved names: let the library decide
    lower = local.lower()
    if lower in _CASE_INSENSITIVE:
        return None
    return f"{local}@{domain}", f"{lower}@{domain}"


def _fast(text: str) -> Address | None:
    """The normalised address when ``text`` is a plain ASCII address, else None (undecided)."""
    pair = fast_address(text)
    return None if pair is None else Address(*pair)


def _slow(text: str) -> Address:
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{text!r} is not a valid email address: {exc}") from None
    return Address(result.normalized, result.normalized.lower())


def normalise(text: str) -> Address:
    """Validate and normalise one address (no DNS look-ups); raise ``InvalidAddress``."""
    text = text.strip()
    if not text:
        raise InvalidAddress("the email address is empty")
    return _fast(text) or _slow(text)


def address_hash(key: str) -> str:
    """SHA-256 of the lower-cased normalised address: what suppression keeps after erasure.

    Unkeyed on purpose: the hash must survive a change of the site's secret key,
    and it only ever answers "is this address suppressed?".
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class _AddressHash(FunctionElement[str]):
    """``address_hash`` computed by the database, so one query can test suppression."""

    type = String()
    name = "address_hash"
    inherit_cache = True


@compiles(_AddressHash, "postgresql")
def _pg_address_hash(element: _AddressHash, compiler: SQLCompiler, **kw: Any) -> str:
    return f"encode(sha256(convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')), 'hex')"


@compiles(_AddressHash, "sqlite")
def _sqlite_address_hash(element: _AddressHash, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_HASH_FUNCTION}({compiler.process(element.clauses, **kw)})"


SQLITE_HASH_FUNCTION = "newsletter_address_hash"


def address_hash_sql(key: ColumnElement[str]) -> ColumnElement[str]:
    """The SQL expression equal to ``address_hash(key)`` (SQLite: see ``register_sqlite``)."""
    return _AddressHash(key)


def register_sqlite(dbapi_connection: Any) -> None:
    """Give a new SQLite connection the hash function ``address_hash_sql`` calls."""
    dbapi_connection.create_function(SQLITE_HASH_FUNCTION, 1, address_hash, deterministic=True)
