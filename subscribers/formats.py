"""Which tool wrote a subscriber file, and what each of its columns means.

Organisations arrive with a list exported from another tool. Each tool says
different things in different columns: Mailchimp writes one file per status
(subscribed, unsubscribed, cleaned, non-subscribed) and keeps the opt-in and
confirmation times and IPs; listmonk writes a status and JSON attributes; our own
export writes a status and the times. A file from anywhere else is read by its
column names, or by the mapping staff give (``--map "E-mail=email"``).

Pure: a header (and the file's name) in, a ``Layout`` out; a ``Layout`` turns a
row's cells into its status, tags and consent history.
"""

from __future__ import annotations

import csv
import functools
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from subscribers.errors import NewsletterError

MAILCHIMP = "mailchimp"
LISTMONK = "listmonk"
NEWSLETTER = "newsletter"
GENERIC = "generic"
FORMATS = (MAILCHIMP, LISTMONK, NEWSLETTER, GENERIC)
TOOLS = {MAILCHIMP: "Mailchimp", LISTMONK: "listmonk", NEWSLETTER: "newsletter", GENERIC: ""}

# Target statuses of a row (the values of ``models.Status``) and one more:
NOT_SUBSCRIBED = "not-subscribed"
"""A contact the old tool held without any consent to be mailed (Mailchimp's
non-subscribed, i.e. transactional, contacts): never imported."""

_STATUS_WORDS = {
    "subscribed": "active",
    "active": "active",
    "enabled": "active",
    "confirmed": "active",
    "pending": "pending",
    "unconfirmed": "pending",
    "unsubscribed": "unsubscribed",
    "disabled": "unsubscribed",
    "blocklisted": "unsubscribed",
    "blacklisted": "unsubscribed",
    "cleaned": "bounced",
    "bounced": "bounced",
    "complained": "complained",
    "nonsubscribed": NOT_SUBSCRIBED,
    "non-subscribed": NOT_SUBSCRIBED,
    "transactional": NOT_SUBSCRIBED,
}

_RANK = {"complained": 0, "bounced": 1, "unsubscribed": 2, NOT_SUBSCRIBED: 3, "pending": 4}
"""Lower is more restrictive; "active" ranks highest. Two rows of one address keep
the more restrictive status: an import never raises anyone."""


def lower_status(a: str, b: str) -> str:
    """The more restrictive of two target statuses ("" means unknown and loses)."""
    if not a or not b:
        return a or b
    return a if _RANK.get(a, 9) <= _RANK.get(b, 9) else b


class FormatError(NewsletterError, ValueError):
    """A ``--format`` or ``--map`` that cannot be applied to the file."""


def status_from_word(word: str) -> str | None:
    """Our target status for a status word of any supported tool, or None if unknown."""
    return _STATUS_WORDS.get(word.strip().lower())


def label(cell: str) -> str:
    """A header cell compared loosely: "E-Mail", "e_mail" and "e mail" are one label."""
    return " ".join(re.sub(r"[-_.]", " ", cell.strip().strip("\ufeff").lower()).split())


_SYNONYMS = {
    "email": {"email", "e mail", "email address", "e mail address", "address", "mail"},
    "name": {"name", "full name", "fullname", "display name"},
    "first": {"first name", "firstname", "given name", "forename"},
    "last": {"last name", "lastname", "surname", "family name"},
    "language": {"language", "lang", "locale"},
    "topics": {"topics", "topic", "lists", "list"},
    "tags": {"tags", "tag"},
    "status": {"status"},
}
_MAP_TARGETS = {
    "email": "email",
    "name": "name",
    "first_name": "first",
    "last_name": "last",
    "language": "language",
    "tags": "tags",
    "status": "status",
    "topics": "topics",
    "lists": "topics",
    "ignore": "",  # read by nothing, even when its name looks like a field's
}
#: What a column can be mapped to, as ``--map`` and the console's mapping step write it.
MAP_FIELDS = tuple(_MAP_TARGETS)


def map_field(lay: Layout | None, index: int) -> str:
    """The ``--map`` field of column ``index`` in ``lay`` ("ignore" when none reads it)."""
    if lay is not None:
        for field_name, role in _MAP_TARGETS.items():
            if role and getattr(lay, role) == index:
                return field_name
    return "ignore"


_MAILCHIMP_MARKS = {"member rating", "optin time", "confirm time", "leid", "euid"}
_MAILCHIMP_SYSTEM = {
    "member rating",
    "optin time",
    "optin ip",
    "confirm time",
    "confirm ip",
    "latitude",
    "longitude",
    "gmtoff",
    "dstoff",
    "timezone",
    "cc",
    "region",
    "last changed",
    "leid",
    "euid",
    "notes",
    "unsub time",
    "unsub campaign title",
    "unsub campaign id",
    "unsub reason",
    "unsub reason other",
    "clean time",
    "clean campaign title",
    "clean campaign id",
    "email type",
}
_LISTMONK_HEADER = ["uuid", "email", "name", "attributes", "status", "created at", "updated at"]

Event = tuple[str, str, str]  # consent action, when (UTC text, see parse_time), IP
Extras = tuple[str, tuple[str, ...], tuple[Event, ...]]  # status, tags, history


@dataclass(frozen=True)
class Layout:
    """Where each field is (-1: absent) and how the file speaks about status."""

    header: list[str]
    format: str
    email: int
    name: int = -1
    first: int = -1
    last: int = -1
    language: int = -1
    topics: int = -1
    tags: int = -1
    status: int = -1
    file_status: str = ""
    """The status of every row, when the file's shape says it (a Mailchimp export)."""
    kind: str = ""
    """What the file is, in words: "Mailchimp export of unsubscribed contacts"."""
    history: dict[str, int] = field(default_factory=dict)
    """Consent history columns: optin_time, optin_ip, confirm_time, confirm_ip, ..."""
    attributes: int = -1
    not_imported: tuple[str, ...] = ()
    """Columns that hold something we do not import (groups, merge fields...)."""

    @property
    def tool(self) -> str:
        return TOOLS[self.format]

    @property
    def speaks_of_status(self) -> bool:
        return bool(self.file_status) or self.status >= 0

    @property
    def has_extras(self) -> bool:
        return (
            self.speaks_of_status or self.tags >= 0 or bool(self.history) or (self.attributes >= 0)
        )


def parse_map(text: str) -> dict[str, str]:
    """``"E-mail=email,Vorname=first_name"`` -> {label: role}; ``FormatError`` if unusable."""
    mapping: dict[str, str] = {}
    for part in (p for p in text.split(",") if p.strip()):
        column, sep, target = part.rpartition("=")
        role = _MAP_TARGETS.get(target.strip().lower())
        if not sep or not column.strip() or role is None:
            choices = ", ".join(_MAP_TARGETS)
            raise FormatError(f"--map {part.strip()!r}: write COLUMN=FIELD, FIELD one of {choices}")
        mapping[label(column)] = role
    if not mapping:
        raise FormatError('--map is empty: write it as "E-mail=email,Vorname=first_name"')
    return mapping


def _find(labels: list[str], mapping: dict[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, text in enumerate(labels):
        role = mapping.get(text)
        if role and role not in found:
            found[role] = index
    mapped = set(found)
    for index, text in enumerate(labels):
        if text in mapping:  # staff said what this column is (perhaps: nothing)
            continue
        for role, names in _SYNONYMS.items():
            if role not in mapped and text in names and role not in found:
                found[role] = index
    return found


def guess(header: list[str]) -> str:
    """The format a header looks like it was written in."""
    labels = [label(cell) for cell in header]
    present = set(labels)
    if "email address" in present and present & _MAILCHIMP_MARKS:
        return MAILCHIMP
    if all(name in present for name in _LISTMONK_HEADER):
        return LISTMONK
    if {"email", "status", "confirmed at"} <= present:
        return NEWSLETTER
    return GENERIC


def _mailchimp_status(present: set[str], filename: str) -> tuple[str, str]:
    name = filename.lower()
    if "unsub time" in present:
        return "unsubscribed", "Mailchimp export of unsubscribed contacts"
    if "clean time" in present:
        return "bounced", "Mailchimp export of cleaned contacts"
    if "nonsubscribed" in name or "non-subscribed" in name or "transactional" in name:
        return NOT_SUBSCRIBED, "Mailchimp export of non-subscribed contacts"
    if "subscribed" in name:
        return "active", "Mailchimp export of subscribed contacts"
    return "", "Mailchimp export (its name does not say which status it holds)"


def layout(
    header: list[str],
    filename: str = "",
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
) -> Layout | None:
    """The layout of a file with this header, or None when no column holds addresses."""
    labels = [label(cell) for cell in header]
    chosen = fmt or guess(header)
    found = _find(labels, mapping or {})
    if chosen == MAILCHIMP:
        found.pop("status", None)
    if chosen == LISTMONK:
        found.pop("tags", None)  # listmonk's tags belong to lists, not people
    if "email" not in found:
        return None
    used = set(found.values())
    extra: dict[str, object] = {}
    present = set(labels)
    if chosen == MAILCHIMP:
        history = {
            key: labels.index(text)
            for key, text in (
                ("optin_time", "optin time"),
                ("optin_ip", "optin ip"),
                ("confirm_time", "confirm time"),
                ("confirm_ip", "confirm ip"),
                ("unsub_time", "unsub time"),
            )
            if text in present
        }
        status, kind = _mailchimp_status(present, filename)
        used |= {i for i, text in enumerate(labels) if text in _MAILCHIMP_SYSTEM}
        extra = {"history": history, "file_status": status, "kind": kind}
    elif chosen == LISTMONK:
        # (``--format listmonk`` may name a file that lacks some of listmonk's columns)
        history = {"created_at": labels.index("created at")} if "created at" in present else {}
        attributes = labels.index("attributes") if "attributes" in present else -1
        used |= {i for i, text in enumerate(labels) if text in ("uuid", "updated at")}
        used |= {*history.values(), attributes}
        extra = {"history": history, "attributes": attributes, "kind": "listmonk export"}
    elif chosen == NEWSLETTER:
        history = {
            key: labels.index(text)
            for key, text in (("created_at", "created at"), ("confirmed_at", "confirmed at"))
            if text in present
        }
        used |= set(history.values())
        extra = {"history": history, "kind": "export of this newsletter"}
    else:
        extra = {"kind": "CSV file"}
    not_imported = tuple(
        cell.strip() for i, cell in enumerate(header) if i not in used and cell.strip()
    )
    return Layout(header=header, format=chosen, not_imported=not_imported, **found, **extra)  # type: ignore[arg-type]


def parse_time(text: str) -> str | None:
    """A time as the supported tools write it, as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
    (what SQLite stores and PostgreSQL reads); None if empty or unreadable.

    Mailchimp writes ``2024-01-01 09:00:00`` (UTC), we write ISO 8601 with an
    offset, listmonk writes Go's ``2024-01-15 10:30:00.123456 +0000 UTC``. Text, not
    a datetime: a million of them would otherwise be built and formatted again.
    """
    text = text.strip()
    if len(text) == 19 and text[10] == " ":  # Mailchimp's, the most common by far
        try:
            datetime.fromisoformat(text)
        except ValueError:
            return None
        return f"{text}.000000"
    if not text:
        return None
    parts = text.split(" ")
    if len(parts) >= 3 and parts[2][:1] in "+-":
        date, clock, offset = parts[:3]
        whole, dot, fraction = clock.partition(".")
        text = f"{date}T{whole}{dot}{fraction[:6]}{offset}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="microseconds")


_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)


def _ip(text: str) -> str:
    """An IP address as written, or "" if it is not one."""
    text = text.strip()
    if not text or _IPV4.fullmatch(text):
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


_TAG_SPLIT = re.compile(r"[;|,]")


@functools.lru_cache(maxsize=8192)
def split_tags(cell: str) -> tuple[str, ...]:
    """Tag names in a cell: Mailchimp's ``"Donor","Board"`` or ``Donor; Board``."""
    cell = cell.strip()
    if not cell:
        return ()
    if '"' in cell:
        parts = next(csv.reader([cell], skipinitialspace=True), [])
    else:
        parts = _TAG_SPLIT.split(cell)
    seen: dict[str, None] = {}
    for part in parts:
        name = " ".join(part.split())[:100]
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


_HISTORY = {
    MAILCHIMP: (
        ("subscribe", "optin_time", "optin_ip"),
        ("confirm", "confirm_time", "confirm_ip"),
        ("unsubscribe", "unsub_time", ""),
    ),
    LISTMONK: (("subscribe", "created_at", ""),),
    NEWSLETTER: (("subscribe", "created_at", ""), ("confirm", "confirmed_at", "")),
}


class BadRow(NewsletterError, ValueError):
    """A row whose status cannot be read: rejected with this reason."""


def extras_reader(lay: Layout, attribute_names: set[str]) -> Callable[[list[str]], Extras]:
    """A function reading a row's (status, tags, consent history); collects the names
    of listmonk attributes seen into ``attribute_names`` (they are not imported)."""
    fixed, status_at, tags_at, attributes_at = (
        lay.file_status,
        lay.status,
        lay.tags,
        lay.attributes,
    )
    plan = [
        (action, lay.history[when], lay.history.get(ip, -1))
        for action, when, ip in _HISTORY.get(lay.format, ())
        if when in lay.history
    ]

    def read(cells: list[str]) -> Extras:
        n = len(cells)
        status = fixed
        if status_at >= 0:
            word = cells[status_at] if status_at < n else ""
            if word.strip():
                found = status_from_word(word)
                if found is None:
                    raise BadRow(f"unknown status {word.strip()[:40]!r}")
                status = found
        tags = split_tags(cells[tags_at]) if 0 <= tags_at < n else ()
        if 0 <= attributes_at < n and cells[attributes_at].strip() not in ("", "{}"):
            try:
                attributes = json.loads(cells[attributes_at])
            except ValueError:
                attributes = None
            if isinstance(attributes, dict):
                found_tags = attributes.get("tags")
                if isinstance(found_tags, list):
                    tags = tags + tuple(str(t)[:100] for t in found_tags if str(t).strip())
                if len(attribute_names) < 100:
                    attribute_names.update(k for k in attributes if k != "tags")
        history: list[Event] = []
        for action, when_at, ip_at in plan:
            moment = parse_time(cells[when_at]) if when_at < n else None
            if moment is not None:
                ip = _ip(cells[ip_at]) if 0 <= ip_at < n else ""
                history.append((action, moment, ip))
        return status, tags, tuple(history)

    return read
