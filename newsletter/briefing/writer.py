"""The briefing writer: the canonical Markdown of a briefing, which ``markdown.parse`` reads
back unchanged (apart from line numbers). That is what lets the importer's output, the part
form and the console's edits be reviewed and edited like any hand-written briefing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from newsletter.briefing import topics as section_topics
from newsletter.briefing.model import Briefing, Contact, Paragraph, Subsection

__all__ = ["CONTACT_KEYS", "dump", "dump_body", "escape_block_start"]

CONTACT_KEYS = ("name", "email", "website")  # the front matter's contact, in this order
# Line starts that CommonMark would read as a block (heading, list, quote, fence, HTML...).
_BLOCK_START = re.compile(
    r"^(?:(?P<mark>#{1,6}(?=\s|$)|[-+*](?=\s|$)|(?:[-*_]\s*){3,}$|>|`{3}|~{3}|=+\s*$"
    r"|<[A-Za-z/!?]|\[[^\]]*\]:)"
    r"|\d{1,9}(?P<num>[.)])(?=\s|$))"
)


def escape_block_start(text: str) -> str:
    """Make inline text safe to write as a paragraph: no line may open another block.

    ``2023. A year...`` or ``- x`` at the start of a line would become a list in
    Markdown; a backslash keeps it literal. Idempotent, so canonical text is unchanged.
    """
    lines = []
    for raw in text.split("\n"):
        line = raw.strip()
        match = _BLOCK_START.match(line)
        if match:
            at = match.start("num") if match.group("num") else 0
            line = f"{line[:at]}\\{line[at:]}"
        lines.append(line)
    return "\n".join(lines)


def _heading(text: str) -> str:
    """A heading written so that it reads back as the same text."""
    text = " ".join(text.split())
    text = re.sub(r"([\\#{}])", r"\\\1", text)  # closing '#'s, markers, backslashes stay literal
    return text


class _Dumper(yaml.SafeDumper):
    """Writes multi-line text (a two-line subtitle) as a readable ``|-`` block."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.endswith((" ", "\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(b: Briefing) -> str:
    """Write the canonical Markdown form of a briefing."""
    front: dict[str, Any] = {"number": b.number}
    if b.series and b.series != "Briefing":
        front["series"] = b.series
    front |= {"date": b.date, "title": b.title}
    if b.email_subject:
        front["subject"] = b.email_subject
    if b.subtitle:
        front["subtitle"] = b.subtitle
    if b.contact != Contact():
        front["contact"] = {k: getattr(b.contact, k) for k in CONTACT_KEYS}
    front["topics"] = list(b.topics)
    front["language"] = b.language
    header = yaml.dump(front, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
    out = ["---", header.rstrip("\n"), "---", ""]

    def block(
        heading: str, paragraphs: Sequence[Paragraph], level: int = 2, *, bullets: bool = False
    ) -> None:
        out.extend((f"{'#' * level} {heading}", "", *_blocks(paragraphs, bullets=bullets)))

    if b.key_decisions or b.key_decisions_heading != "Key decisions":
        block(
            f"{_heading(b.key_decisions_heading)} {{.key-decisions}}", b.key_decisions, bullets=True
        )
    if b.summary or b.summary_heading != "Summary":
        block(f"{_heading(b.summary_heading)} {{.summary}}", b.summary)
    for s in b.sections:
        topics_line = [Paragraph(section_topics.format_line(s.topics))] if s.topics else []
        block(f"{s.number}. {_heading(s.title)}", [*topics_line, *section_topics.guard(s)])
        for sub in s.subsections:
            block(_heading(sub.heading), sub.paragraphs, level=3)
    if b.appeal:
        block(f"{_heading(b.appeal.heading)} {{.appeal}}", b.appeal.paragraphs)
    return "\n".join(out).rstrip("\n") + "\n"


def _blocks(paragraphs: Sequence[Paragraph], *, bullets: bool = False) -> list[str]:
    """Paragraphs as Markdown lines, each block followed by one blank line."""
    out: list[str] = []
    previous_bullet = False
    for p in paragraphs:
        text = escape_block_start(p.text)
        if bullets or p.bullet:
            if previous_bullet:
                out.pop()  # keep consecutive bullets one tight list
            out.append("- " + text.replace("\n", "\n  "))
        else:
            out.append(text)
        out.append("")
        previous_bullet = bullets or p.bullet
    return out


def dump_body(paragraphs: Sequence[Paragraph], subsections: Sequence[Subsection] = ()) -> str:
    """The text under one '##' heading, as ``dump`` writes it (the part form edits this)."""
    out = _blocks(paragraphs)
    for sub in subsections:
        out.extend((f"### {_heading(sub.heading)}", "", *_blocks(sub.paragraphs)))
    return "\n".join(out).strip("\n")
