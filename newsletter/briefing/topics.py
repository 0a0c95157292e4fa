"""Which topics each numbered section is about, and which sections a reader sees first.

A section's topics are written by hand under its heading, as one line
``Topics: Ukraine, Trade`` (see docs/briefing-format.md). Names are compared folded:
case, accents and spacing never matter ("Sécurité" is "securite", "UKRAINE" is
"Ukraine"). Everything here is pure: the organisation's topic names are passed in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from newsletter.briefing.model import LINK_PATTERN, Briefing, Paragraph, Section

__all__ = [
    "LINE",
    "chosen",
    "first_for",
    "fold",
    "format_line",
    "guard",
    "guess",
    "order",
    "parse_line",
    "section_keys",
    "unique",
    "unknown",
]

# The one line under a section heading that names its topics; case-insensitive.
LINE = re.compile(r"(?i)^topics:[ \t]*(?P<names>[^\n]*)$")

K = TypeVar("K")


def fold(text: str) -> str:
    """A name as compared: no accents, case folded, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def parse_line(text: str) -> tuple[str, ...] | None:
    """The topics of a ``Topics: a, b`` paragraph, or None when the text is not one."""
    match = LINE.match(text.strip())
    if match is None:
        return None
    names = (" ".join(n.split()) for n in match["names"].split(","))
    return unique(n for n in names if n)


def format_line(topics: Sequence[str]) -> str:
    """The line ``dump`` writes under a section heading."""
    return "Topics: " + ", ".join(topics)


def guard(section: Section) -> tuple[Paragraph, ...]:
    """The section's paragraphs to write, a first one that reads like a ``Topics:`` line
    escaped as ``Topics\\:`` so that it reads back as text."""
    paragraphs = section.paragraphs
    if paragraphs and parse_line(paragraphs[0].text) is not None:
        text = re.sub(r"(?i)^(\s*topics):", r"\1\\:", paragraphs[0].text.lstrip(), count=1)
        return (replace(paragraphs[0], text=text), *paragraphs[1:])
    return paragraphs


def unique(names: Iterable[str]) -> tuple[str, ...]:
    """Names in order, each folded form once (the first spelling wins)."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(fold(name), name)
    return tuple(seen.values())


def _section_text(section: Section) -> str:
    """Heading, sub-headings and paragraph text; link targets left out (URLs name things
    the reader never sees)."""
    pieces = [section.title, *(sub.heading for sub in section.subsections)]
    pieces += [LINK_PATTERN.sub(r"\g<text>", p.text) for p in section.all_paragraphs]
    return fold(" ".join(pieces))


def _mentions(text: str, name: str) -> bool:
    folded = fold(name)
    if not folded:
        return False
    return re.search(rf"(?<![\w]){re.escape(folded)}(?![\w])", text) is not None


def guess(briefing: Briefing, names: Sequence[str]) -> Briefing:
    """Each section gets the organisation's topics its heading or text names (as whole
    words), after any it already has; staff then edit the ``Topics:`` lines."""
    sections = []
    for section in briefing.sections:
        text = _section_text(section)
        found = [name for name in names if _mentions(text, name)]
        sections.append(replace(section, topics=unique([*section.topics, *found])))
    return replace(briefing, sections=tuple(sections))


def unknown(briefing: Briefing, names: Iterable[str]) -> list[tuple[Section, str]]:
    """(section, topic) for every section topic that is not one of ``names``."""
    known = {fold(n) for n in names}
    return [(s, t) for s in briefing.sections for t in s.topics if fold(t) not in known]


def section_keys(briefing: Briefing, index: Mapping[str, K]) -> tuple[frozenset[K], ...]:
    """Each section's topics as keys of ``index`` (folded name or slug -> key, such as a
    topic's id); a name missing from the index is left out."""
    return tuple(
        frozenset(index[fold(t)] for t in section.topics if fold(t) in index)
        for section in briefing.sections
    )


def chosen(sections: Sequence[frozenset[K]], reader: Iterable[K]) -> tuple[int, ...]:
    """Indices of the sections about one of the reader's topics, in the paper's order.

    Empty when the reader chose no topic or none of theirs is in this briefing: they get
    the paper as it is. The result is the key of a rendered copy, so readers with the
    same sections first share one rendering.
    """
    mine = frozenset(reader)
    if not mine:
        return ()
    return tuple(i for i, keys in enumerate(sections) if keys & mine)


def first_for(briefing: Briefing, names: Iterable[str]) -> tuple[int, ...]:
    """The sections a reader following ``names`` gets first (previews by topic name)."""
    wanted = {fold(n) for n in names if fold(n)}
    return chosen(section_keys(briefing, {n: n for n in wanted}), wanted)


def order(count: int, first: Sequence[int]) -> tuple[int, ...]:
    """All section indices: ``first``, then the others in the paper's order."""
    picked = set(first)
    return (*first, *(i for i in range(count) if i not in picked))
