"""Per-recipient values without re-rendering the email for every reader.

The templates are rendered once with unique placeholder markers where a recipient's
name, address and signed links go. The resulting HTML and text are split once into
literal chunks and slots; personalising a copy is then a list copy, a few assignments
and one ``str.join`` (values HTML-escaped for the HTML part): no template runs per copy.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from newsletter.links import RecipientLinks

SLOT_NAMES = ("name", "email", "unsubscribe", "preferences", "donate", "browser")
REQUIRED_SLOTS = ("unsubscribe", "preferences", "donate")
DEFAULT_NAME = "reader"  # "Dear reader," when a subscriber gave no name


@dataclass(frozen=True)
class Personal:
    """What differs between two copies of the same digest."""

    name: str
    email: str
    links: RecipientLinks


@dataclass(frozen=True)
class Slots:
    """The markers templates print where a personal value will go (``{{ slot.donate }}``).

    Markers are plain ASCII letters and digits so escaping, MJML and wrapping leave
    them untouched; the random nonce means briefing text cannot contain one by chance.
    """

    nonce: str
    name: str
    email: str
    unsubscribe: str
    preferences: str
    donate: str
    browser: str

    @classmethod
    def fresh(cls) -> Slots:
        nonce = secrets.token_hex(6)
        return cls(nonce, *(f"xslot{nonce}{key}x" for key in SLOT_NAMES))

    @cached_property  # compiled once per rendering, for the HTML, text and MJML splits
    def pattern(self) -> re.Pattern[str]:
        return re.compile(f"xslot{self.nonce}({'|'.join(SLOT_NAMES)})x")


@dataclass(frozen=True)
class SplitTemplate:
    """A rendered document as literal chunks with holes at known positions."""

    parts: tuple[str, ...]
    slots: tuple[tuple[int, str], ...]

    @classmethod
    def split(cls, rendered: str, slots: Slots) -> SplitTemplate:
        # re.split with one group alternates literal, slot name, literal, ...
        pieces = slots.pattern.split(rendered)
        holes = tuple((i, pieces[i]) for i in range(1, len(pieces), 2))
        return cls(tuple(pieces), holes)

    def names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.slots)

    def fill(self, values: Mapping[str, str]) -> str:
        out = list(self.parts)
        for index, name in self.slots:
            out[index] = values[name]
        return "".join(out)


def text_values(person: Personal) -> dict[str, str]:
    """Slot values for the plain-text part (and the base for the HTML ones)."""
    links = person.links
    return {
        "name": " ".join(person.name.split()) or DEFAULT_NAME,
        "email": " ".join(person.email.split()),
        "unsubscribe": links.unsubscribe,
        "preferences": links.preferences,
        "donate": links.donate,
        "browser": links.browser,
    }


def html_values(values: Mapping[str, str]) -> dict[str, str]:
    """The same values HTML-escaped, quotes included (they may sit in attributes)."""
    escape = html.escape
    return {key: escape(value) for key, value in values.items()}


def personal_values(person: Personal) -> tuple[dict[str, str], dict[str, str]]:
    """(HTML values, text values): what ``Digest.personalise`` fills its templates with."""
    values = text_values(person)
    return html_values(values), values
