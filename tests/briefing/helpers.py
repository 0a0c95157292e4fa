"""Paths and small helpers shared by the briefing tests."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from newsletter.briefing.model import Appeal, Briefing, Paragraph, Section, Subsection

ROOT = Path(__file__).resolve().parents[2]
PAPERS = ROOT / "examples" / "papers"
SEED = PAPERS / "briefing-112.txt"
EXAMPLE = ROOT / "examples" / "briefings" / "112-foreign-ministers.md"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# A Markdown link as written in the papers: [text](target), not an image.
SOURCE_LINK = re.compile(r"(?<!!)\[([^\[\]]+)\]\(([^()\s]*)\)")
SENTENCE_END = (".", "!", "?", "…", ":", ";", "”", '"', "’")


def read_paper(name: str) -> str:
    """A paper exactly as stored (newline='' keeps Windows line endings)."""
    with (PAPERS / name).open(encoding="utf-8", newline="") as f:
        return f.read()


def without_lines(b: Briefing) -> Briefing:
    """The same briefing with every source line number set to 0 (they differ by format)."""

    def paras(ps: tuple[Paragraph, ...]) -> tuple[Paragraph, ...]:
        return tuple(dataclasses.replace(p, line=0) for p in ps)

    sections = tuple(
        Section(
            s.number,
            s.title,
            paras(s.paragraphs),
            tuple(Subsection(x.heading, paras(x.paragraphs)) for x in s.subsections),
            topics=s.topics,
        )
        for s in b.sections
    )
    appeal = Appeal(b.appeal.heading, paras(b.appeal.paragraphs)) if b.appeal else None
    return dataclasses.replace(
        b,
        key_decisions=paras(b.key_decisions),
        summary=paras(b.summary),
        sections=sections,
        appeal=appeal,
        source="",
    )
