"""A briefing paper as plain, immutable data.

Paragraph text is kept as CommonMark *inline* source (``[text](url)``, ``**bold**``),
exactly as staff wrote it; renderers turn it into safe HTML or plain text. Every
piece of text remembers the source line it came from so the linter can point at it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

_LINK = re.compile(
    r"(?<!!)\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\((?P<url>[^()\s]*(?:\([^()]*\))?[^()\s]*)(?:\s+\"[^\"]*\")?\)"
)
LINK_PATTERN = _LINK  # a Markdown link ``[text](url)`` as briefing paragraphs write it
_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<url>[^)\s]*)[^)]*\)")


@dataclass(frozen=True)
class Link:
    text: str
    url: str
    line: int = 0

    @property
    def is_placeholder(self) -> bool:
        """A target lost in a PDF export (``#`` or empty) that would go nowhere."""
        return self.url.strip() in ("", "#")


@dataclass(frozen=True)
class Image:
    alt: str
    url: str
    line: int = 0


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of inline Markdown, or a bullet item when ``bullet`` is set."""

    text: str
    line: int = 0
    bullet: bool = False

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(Link(m["text"], m["url"], self.line) for m in _LINK.finditer(self.text))

    @property
    def images(self) -> tuple[Image, ...]:
        return tuple(Image(m["alt"], m["url"], self.line) for m in _IMAGE.finditer(self.text))


@dataclass(frozen=True)
class Subsection:
    """An unnumbered sub-heading inside a numbered section ("More pledges of support")."""

    heading: str
    paragraphs: tuple[Paragraph, ...] = ()
    line: int = 0

    @property
    def anchor(self) -> str:
        return slugify(self.heading)


@dataclass(frozen=True)
class Section:
    """A numbered section ("1. The Israel-Hamas war")."""

    number: int
    title: str
    paragraphs: tuple[Paragraph, ...] = ()
    subsections: tuple[Subsection, ...] = ()
    line: int = 0
    # What the section is about (its ``Topics:`` line): readers who chose one see it first.
    topics: tuple[str, ...] = ()
    topics_line: int = 0

    @property
    def anchor(self) -> str:
        """Short (links stay on one line of the text part) and kept when the title changes."""
        return f"section-{self.number}"

    @property
    def all_paragraphs(self) -> tuple[Paragraph, ...]:
        out = list(self.paragraphs)
        for sub in self.subsections:
            out.extend(sub.paragraphs)
        return tuple(out)

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(link for p in self.all_paragraphs for link in p.links)


@dataclass(frozen=True)
class Appeal:
    """The closing donation appeal ("DONATE NOW PLEASE" and its text)."""

    heading: str
    paragraphs: tuple[Paragraph, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Contact:
    name: str = ""
    email: str = ""
    website: str = ""


@dataclass(frozen=True)
class Briefing:
    number: int
    date: date
    title: str
    subtitle: str = ""
    contact: Contact = field(default_factory=Contact)
    topics: tuple[str, ...] = ()
    language: str = "en"
    key_decisions_heading: str = "Key decisions"
    key_decisions: tuple[Paragraph, ...] = ()
    summary_heading: str = "Summary"
    summary: tuple[Paragraph, ...] = ()
    sections: tuple[Section, ...] = ()
    appeal: Appeal | None = None
    source: str = ""  # path it was read from, for messages
    series: str = "Briefing"  # the series name as the paper prints it ("Working Paper")
    email_subject: str = ""  # the ``subject:`` front-matter key; empty: the title

    @property
    def slug(self) -> str:
        return f"{self.number}-{slugify(self.title)[:60].rstrip('-')}"

    @property
    def subject(self) -> str:
        """The email subject: the ``subject:`` key, else the title."""
        return self.email_subject or self.title

    @property
    def label(self) -> str:
        """Series and number as readers know the paper: "Working Paper No. 12"."""
        return f"{self.series or 'Briefing'} No. {self.number}"

    def paragraphs(self) -> tuple[Paragraph, ...]:
        """Every paragraph in reading order."""
        out = [*self.key_decisions, *self.summary]
        for section in self.sections:
            out.extend(section.all_paragraphs)
        if self.appeal:
            out.extend(self.appeal.paragraphs)
        return tuple(out)

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(link for p in self.paragraphs() for link in p.links)


def slugify(text: str) -> str:
    """ASCII, lower-case, hyphenated: stable anchors for the web archive page."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "section"
