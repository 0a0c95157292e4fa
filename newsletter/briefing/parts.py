"""A briefing by parts: the masthead, the key decisions, each section and the appeal as
separate fields, for staff who would rather not edit Markdown with its front matter.

``parts_of`` splits a parsed briefing into the fields' text; ``rebuild`` reads the fields
back onto the briefing they came from and returns the source ``writer.dump`` writes, so
the part form and the Markdown editor keep one canonical text. What the fields do not show
(summary, subtitle, contact, the paper's topics, language) is kept as it was. A section's
topics (its ``Topics:`` line) are a group of checkboxes: ``topic_choices`` says which.
``field_of`` says which field a lint finding concerns, so the form can show it beside that
field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from newsletter.briefing import markdown, writer
from newsletter.briefing import topics as section_topics
from newsletter.briefing.lint import Problem
from newsletter.briefing.model import Appeal, Briefing, Paragraph, Section, Subsection
from newsletter.errors import BriefingError

__all__ = [
    "LINK_CODES",
    "PartError",
    "Parts",
    "SectionPart",
    "field_of",
    "from_form",
    "parts_of",
    "rebuild",
    "topic_choices",
]

MASTHEAD = ("number", "date", "title", "subject", "series")
# Findings about the whole paper that still belong to one field.
_CODE_FIELDS = {
    "missing-title": "title",
    "missing-number": "number",
    "missing-date": "date",
    "long-subject": "subject",
    "missing-key-decisions": "key-decisions",
    "missing-appeal": "appeal",
}
# Findings about a link's target: the briefing page also shows them by its links table.
LINK_CODES = frozenset({"placeholder-link", "insecure-link", "unsafe-link", "relative-link"})
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_TOP_HEADING = re.compile(r"^ {0,3}#{1,2}(?:\s|$)")
_WHERE = re.compile(r"^part(?::\d+)?: ")


class PartError(BriefingError):
    """A field that does not read back as its part of a briefing; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SectionPart:
    number: int
    heading: str
    body: str  # Markdown: paragraphs, '-' bullets and '###' sub-headings
    topics: tuple[str, ...] = ()  # its ``Topics:`` line, each as the section spells it


@dataclass(frozen=True)
class Parts:
    """The part form's fields as text, exactly as staff typed them."""

    number: str
    date: str
    title: str
    subject: str
    series: str
    key_decisions: str  # one decision a line
    sections: tuple[SectionPart, ...]
    appeal_heading: str
    appeal_body: str


def parts_of(b: Briefing) -> Parts:
    return Parts(
        number=str(b.number),
        date=b.date.isoformat(),
        title=b.title,
        subject=b.email_subject,
        series=b.series,
        # A decision wrapped over lines is one decision: its line breaks read as spaces.
        key_decisions="\n".join(" ".join(p.text.split("\n")) for p in b.key_decisions),
        sections=tuple(
            SectionPart(s.number, s.title, writer.dump_body(s.paragraphs, s.subsections), s.topics)
            for s in b.sections
        ),
        appeal_heading=b.appeal.heading if b.appeal else "",
        appeal_body=writer.dump_body(b.appeal.paragraphs) if b.appeal else "",
    )


def from_form(form: Mapping[str, object], base: Briefing) -> Parts:
    """The fields as posted; the sections are the base's, one ``section-N-...`` group each.

    A section's ticked topics are ``section-N-topics`` (repeated, as a form posts a group of
    checkboxes); a form that did not show the group (no ``section-N-topics-shown``) keeps
    the section's topics as they were, since an unticked group posts nothing at all."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.replace("\r\n", "\n") if isinstance(value, str) else ""

    def topics(name: str, kept: tuple[str, ...]) -> tuple[str, ...]:
        if not text(f"{name}-shown"):
            return kept
        return _ticked(kept, _every(form, name))

    return Parts(
        number=text("number"),
        date=text("date"),
        title=text("title"),
        subject=text("subject"),
        series=text("series"),
        key_decisions=text("key-decisions"),
        sections=tuple(
            SectionPart(
                s.number,
                text(f"section-{i}-heading"),
                text(f"section-{i}"),
                topics(f"section-{i}-topics", s.topics),
            )
            for i, s in enumerate(base.sections, 1)
        ),
        appeal_heading=text("appeal-heading"),
        appeal_body=text("appeal"),
    )


def _every(form: Mapping[str, object], name: str) -> list[str]:
    """Every value posted under ``name`` (a form's ``getlist``, or one value or a list)."""
    getlist = getattr(form, "getlist", None)
    values = getlist(name) if callable(getlist) else form.get(name)
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [v for v in values if isinstance(v, str)]


def _ticked(kept: tuple[str, ...], ticked: list[str]) -> tuple[str, ...]:
    """The ticked topics: those the section had, in its order and spelling, then new ones."""
    wanted = section_topics.unique(" ".join(t.split()) for t in ticked if t.strip())
    folded = {section_topics.fold(t) for t in wanted}
    had = [t for t in kept if section_topics.fold(t) in folded]
    known = {section_topics.fold(t) for t in had}
    return (*had, *(t for t in wanted if section_topics.fold(t) not in known))


def topic_choices(section: tuple[str, ...], names: list[str]) -> list[tuple[str, bool]]:
    """The checkboxes for one section's topics as (name, ticked): each of the organisation's
    topics ``names``, in the section's spelling when it names it, then any topic the section
    names that is not one of them (ticked: the lint finding beside it says why it is odd)."""
    mine = {section_topics.fold(t): t for t in section}
    out = [(mine.get(section_topics.fold(n), n), section_topics.fold(n) in mine) for n in names]
    offered = {section_topics.fold(n) for n in names}
    out += [(t, True) for t in section if section_topics.fold(t) not in offered]
    return out


def rebuild(parts: Parts, base: Briefing) -> str:
    """The canonical Markdown of ``base`` with the fields' text in place of its own.

    Raises ``PartError`` naming the field (and the line within it) that does not read back."""
    number = parts.number.strip()
    if not number.isdigit() or int(number) <= 0:
        raise PartError("number", f"the number must be a positive whole number, not {number!r}")
    try:
        when = date.fromisoformat(parts.date.strip())
    except ValueError:
        raise PartError(
            "date", f"the date must be a day as YYYY-MM-DD, not {parts.date!r}"
        ) from None
    title = " ".join(parts.title.split())
    if not title:
        raise PartError("title", "a briefing needs a title")
    sections = []
    for i, part in enumerate(parts.sections, 1):
        heading = " ".join(part.heading.split())
        if not heading:
            raise PartError(f"section-{i}-heading", f"section {part.number} needs a heading")
        paragraphs, subsections = _body(part.body, f"section-{i}", "## 1. Section")
        topics = section_topics.unique(" ".join(t.split()) for t in part.topics if t.strip())
        for name in topics:
            if "," in name:
                raise PartError(
                    f"section-{i}-topics",
                    f"the topic {name!r} has a comma, which a 'Topics:' line reads as two "
                    "topics: rename the topic",
                )
        sections.append(Section(part.number, heading, paragraphs, subsections, topics=topics))
    appeal_heading = " ".join(parts.appeal_heading.split())
    appeal = None
    if appeal_heading:
        paragraphs, _ = _body(parts.appeal_body, "appeal", "## Appeal {.appeal}")
        appeal = Appeal(appeal_heading, paragraphs)
    elif parts.appeal_body.strip():
        raise PartError("appeal-heading", "give the appeal a heading, or empty its text")
    changed = replace(
        base,
        number=int(number),
        date=when,
        title=title,
        email_subject=" ".join(parts.subject.split()),
        series=" ".join(parts.series.split()) or "Briefing",
        key_decisions=_decisions(parts.key_decisions),
        sections=tuple(sections),
        appeal=appeal,
    )
    source = writer.dump(changed)
    markdown.parse(source, source="the edited briefing")  # reads back, or says why not
    return source


def _decisions(text: str) -> tuple[Paragraph, ...]:
    """One decision a line; a pasted '- ' or '1.' in front of it is the list's, not the text's."""
    lines = (_BULLET.sub("", line, count=1).strip() for line in text.split("\n"))
    return tuple(Paragraph(line, bullet=True) for line in lines if line)


def _body(
    text: str, field: str, heading: str
) -> tuple[tuple[Paragraph, ...], tuple[Subsection, ...]]:
    """Read one part's Markdown under ``heading``; errors count lines within the field."""
    for number, line in enumerate(text.split("\n"), 1):
        if _TOP_HEADING.match(line):
            raise PartError(
                field,
                f"line {number}: '#' and '##' headings cannot go inside a part (its heading "
                "is the field above; use '###' for a sub-heading)",
            )
    head = f"---\nnumber: 1\ndate: 2000-01-01\ntitle: part\n---\n\n{heading}\n\n"
    offset = head.count("\n")
    try:
        parsed = markdown.parse(head + text, source="part")
    except BriefingError as problem:
        message = _WHERE.sub("", str(problem))
        at = (problem.line or 0) - offset
        raise PartError(field, f"line {at}: {message}" if at > 0 else message) from None
    if parsed.appeal is not None and not parsed.sections:
        return parsed.appeal.paragraphs, ()
    section = parsed.sections[0]
    return section.paragraphs, section.subsections


def field_of(problem: Problem, b: Briefing) -> str:
    """The part form's field a finding concerns ("" for the paper as a whole).

    ``b`` must be the briefing parsed from the source the finding's line counts in."""
    if problem.code in _CODE_FIELDS:
        return _CODE_FIELDS[problem.code]
    line = problem.line
    if problem.code == "unknown-topic":
        for i, section in enumerate(b.sections, 1):
            if line in (section.topics_line, section.line):
                return f"section-{i}-topics"
    if any(p.line == line for p in b.key_decisions):
        return "key-decisions"
    if any(p.line == line for p in b.summary):
        return "summary"
    ends = [s.line for s in b.sections[1:]] + [b.appeal.line if b.appeal else 10**9]
    for i, (section, end) in enumerate(zip(b.sections, ends, strict=True), 1):
        if section.line <= line < end:
            return f"section-{i}"
    if b.appeal is not None and line >= b.appeal.line:
        return "appeal"
    return ""
