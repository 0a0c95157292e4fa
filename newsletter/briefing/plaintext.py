"""Turn a briefing paper's PDF-extracted plain text into a ``Briefing``.

PDF extraction keeps the words but loses the structure: headings are just short
lines, page breaks cut paragraphs in two, link targets are gone. The rules here
rebuild the structure from the *shape* of the text (line length, final punctuation,
case of the next line), never from the words of one particular paper:

* a heading is a one-line block that is short, has no final punctuation, is not
  the tail of a sentence cut by a page break, and is followed by a block that
  starts a new sentence (a lower-case start means the "heading" was the first
  half of a cut sentence) and does not end on a word like "the" or "from";
* a heading printed straight above its paragraph is split off when its line is
  much shorter than the hard-wrapped lines under it;
* a numbered heading ("3. Strategic competition") opens a section; the other
  headings inside a section are its sub-headings;
* a paragraph that stops mid-sentence is joined with the next block when that
  block starts in lower case or is not itself a heading;
* the heading that asks for money (donate, donation, support us) opens the appeal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from newsletter.briefing.markdown import APPEAL_WORDS
from newsletter.briefing.masthead import Masthead
from newsletter.briefing.model import Appeal, Briefing, Contact, Paragraph, Section, Subsection
from newsletter.briefing.writer import escape_block_start
from newsletter.errors import BriefingError

__all__ = ["convert"]

# Bullet glyphs of word processors and PDF exports (\uf0b7, \uf0a7, \uf0d8 are Word's
# Symbol/Wingdings bullets when the font is lost); a dash needs a space after it ("-1 %"
# is not a bullet), a glyph does not; a dash may come before a glyph ("- •", "-⇒").
_GLYPHS = "•·▪▫◦‣●○■□◆◇❖⁃➢➤►▸▹▶⇒→➔➜✓✔❑\uf0b7\uf0a7\uf0d8\uf076\uf0fc\uf0a8"
_BULLET = re.compile(rf"^(?:[-*+–—]\s*[{_GLYPHS}]\s*|[{_GLYPHS}]\s*|[-*+–—]\s+)(?=\S)")
_SECTION = re.compile(r"^(?P<number>\d{1,2})[.)]\s+(?P<title>\S.*)$")
_PAGE_NUMBER = re.compile(r"(?i)^(?:page\s+)?\d{1,3}(?:\s*(?:of|/)\s*\d{1,3})?$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Escapes that mean something in inline Markdown stay; the others were PDF-export noise.
_KEEP_ESCAPED = set("\\`*_[]()<>")
_TERMINAL = ".!?…:;"
_CLOSING = "”\"’'»)]*_"
_OPENING_QUOTES = "“\"‘'«("
_HEADING_MAX_CHARS = 100
_HEADING_MAX_WORDS = 15
# Words a heading does not end with but the first half of a cut sentence often does.
_DANGLING_WORDS = (
    "a an the of to in on at by from into and or but "
    "nor than that which whose its their our his her this these those"
)
_DANGLING = frozenset(_DANGLING_WORDS.split())
# A last heading that may be an appeal, and text under it that asks for money.
_APPEAL_HEADING = re.compile(
    r"(?i)\b(?:support|give|giving|gift|help|fund|contribut\w*|back|join)\b"
)
_APPEAL_TEXT = re.compile(
    r"(?i)\b(?:donat\w*|gifts?|contribut\w*|fund(?:s|ing|ed)?|support\s+(?:us|our)|"
    r"make\s+a\s+(?:gift|donation))\b"
)


@dataclass
class _Block:
    """Lines between blank lines, with the source line of the first one."""

    lines: list[str]
    line: int

    @property
    def text(self) -> str:
        return _join(self.lines)


def convert(
    text: str,
    *,
    number: int | None = None,
    when: date | None = None,
    headings: frozenset[int] = frozenset(),
) -> Briefing:
    """Rebuild a briefing from PDF-extracted text; ``BriefingError`` if it is not one.

    ``number`` and ``when`` stand in for a masthead that lacks them (or overrule it);
    ``headings`` are the lines known to be headings (a Word or HTML heading), which
    need not pass the shape test.
    """
    blocks = _blocks(text)
    if not blocks:
        raise BriefingError("the file is empty")
    first_bullet = next((i for i, b in enumerate(blocks) if _BULLET.match(b.lines[0])), None)
    first_prose = next(
        (i for i, b in enumerate(blocks) if _is_prose(b) or _is_section_line(b)), len(blocks)
    )
    front_end = (
        first_bullet if first_bullet is not None and first_bullet <= first_prose else first_prose
    )
    header = Masthead()
    masthead = [header.take(b.lines) for b in blocks[:front_end]]
    rest = _title_blocks(blocks[:front_end], masthead)
    header.number = number or header.number
    header.date = when or header.date
    if header.number is None:
        raise BriefingError(
            "no briefing number found near the top (a line like 'Policy Brief No. 27', "
            "'Research Note 5' or '#7'): give it with --number N",
            line=blocks[0].line,
        )
    if header.date is None:
        raise BriefingError(
            "no date found near the top (a line like '3 December 2023' or '2023-12-03'): "
            "give it with --date YYYY-MM-DD",
            line=blocks[0].line,
        )
    if not rest:
        raise BriefingError(
            "no title found after the header", line=blocks[front_end - 1].line if front_end else 1
        )
    title, *more = rest
    intro = more.pop() if more and _is_intro(more[-1], after_subtitle=len(more) >= 2) else None
    body = _Body(headings)
    if intro is not None:
        name = _clean_heading(intro.text).rstrip(":").strip()
        if first_bullet is not None and first_bullet == front_end:
            body.key_heading = name
        else:
            body.summary_heading = name
    body.read(_split_headings(blocks[front_end:]), in_key_decisions=first_bullet == front_end)
    if not body.sections:
        raise BriefingError("no numbered sections found: expected headings like '1. Title'")
    return Briefing(
        number=header.number,
        date=header.date,
        title=_clean_heading(" ".join(title.lines)),
        subtitle="\n".join(_clean_heading(line) for b in more for line in b.lines),
        contact=Contact(header.name, header.email, header.website),
        key_decisions_heading=body.key_heading or "Key decisions",
        key_decisions=tuple(body.key_decisions),
        summary_heading=body.summary_heading or "Summary",
        summary=tuple(body.summary),
        sections=tuple(s.freeze() for s in body.sections),
        appeal=body.appeal.freeze() if body.appeal else None,
        series=header.series or "Briefing",
    )


def _title_blocks(front: list[_Block], masthead: list[bool]) -> list[_Block]:
    """The blocks that are not masthead: after the masthead, or before it if none follow.

    A lone line above the masthead (the organisation's name) is not the title when
    the title follows the masthead, as it does in most papers.
    """
    last = max((i for i, is_masthead in enumerate(masthead) if is_masthead), default=-1)
    after = [b for b, m in zip(front[last + 1 :], masthead[last + 1 :], strict=True) if not m]
    return after or [b for b, m in zip(front, masthead, strict=True) if not m]


def _is_intro(block: _Block, *, after_subtitle: bool) -> bool:
    """Is this the line that introduces the key decisions ("Key decisions taken:")?"""
    if len(block.lines) != 1:
        return False
    text = block.lines[0]
    if text.endswith(":"):
        return True
    if not _heading_shape(text):
        return False
    # Without a subtitle before it, only a short label without figures is taken as
    # the heading; a longer line ("Brussels, 28-29 November 2023") is the subtitle.
    return after_subtitle or (len(text.split()) <= 5 and not any(c.isdigit() for c in text))


def _split_headings(blocks: list[_Block]) -> list[_Block]:
    """Give a heading printed straight above its paragraph (no blank line) a block of its own.

    The first line of a hard-wrapped paragraph runs to the full width; a first line
    that is heading-shaped and much shorter than the lines under it is a heading.
    """
    out: list[_Block] = []
    for block in blocks:
        first, rest = block.lines[0], block.lines[1:]
        if (
            rest
            and not _BULLET.match(first)
            and _heading_shape(first)
            and not rest[0][:1].islower()
            and len(first) <= 0.7 * max(len(line) for line in rest)
            and max(len(line) for line in rest) >= 50
        ):
            out += [_Block([first], block.line), _Block(rest, block.line + 1)]
        else:
            out.append(block)
    return out


def _blocks(text: str) -> list[_Block]:
    """Split into blank-line separated blocks, dropping bare page numbers."""
    text = (
        text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    )
    blocks: list[_Block] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = " ".join(raw.replace("\u00a0", " ").split())
        if line:
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append(_Block(current, start))
            current = []
    if current:
        blocks.append(_Block(current, start))
    return [b for b in blocks if not (len(b.lines) == 1 and _PAGE_NUMBER.match(b.lines[0]))]


def _join(lines: Iterable[str]) -> str:
    """Join wrapped lines into one, keeping hyphenated words and dashes whole."""
    out = ""
    for line in lines:
        if out and not out.endswith(("-", "—", "–")):
            out += " "
        out += line
    return out


def _visible(text: str) -> str:
    """The text a reader sees: links reduced to their words."""
    return _LINK.sub(r"\1", text)


def _complete(text: str) -> bool:
    """Does this text end a sentence (or at least a quotation)?"""
    end = _visible(text).rstrip()
    if end.endswith(("”", '"', "»")):
        return True
    end = end.rstrip(_CLOSING)
    return bool(end) and end[-1] in _TERMINAL


def _heading_shape(text: str) -> bool:
    """Short, starting like a title, no link, no final punctuation (a question is fine)."""
    bare = _clean_heading(text)
    if not bare or len(bare) > _HEADING_MAX_CHARS or len(bare.split()) > _HEADING_MAX_WORDS:
        return False
    if _LINK.search(text) or _BULLET.match(text):
        return False
    first = bare[0]
    if not (first.isupper() or first.isdigit() or first in _OPENING_QUOTES):
        return False
    if bare.split()[-1].lower() in _DANGLING:
        return False
    return bare[-1] == "?" or bare.rstrip(_CLOSING)[-1:] not in _TERMINAL + ","


def _is_prose(block: _Block) -> bool:
    """A block that is plainly running text (long, or several sentences)."""
    text = block.text
    return len(text) > 150 or (len(text) > 60 and _complete(text) and ". " in text)


def _is_section_line(block: _Block) -> bool:
    return (
        len(block.lines) == 1
        and bool(_SECTION.match(block.lines[0]))
        and _heading_shape(block.lines[0])
    )


def _clean_heading(text: str) -> str:
    """Heading text: escapes undone, surrounding bold removed."""
    text = _ESCAPE.sub(r"\1", text.strip())
    if text.startswith("**") and text.endswith("**") and len(text) > 4:
        text = text[2:-2].strip()
    return text


def _paragraph_text(text: str) -> str:
    """Inline Markdown for a paragraph: export escapes undone where they mean nothing."""
    text = _ESCAPE.sub(lambda m: m.group(0) if m.group(1) in _KEEP_ESCAPED else m.group(1), text)
    return escape_block_start(" ".join(text.split()))


@dataclass
class _Unit:
    text: str
    line: int
    bullet: bool = False


@dataclass
class _SectionBuilder:
    number: int
    title: str
    line: int
    units: list[_Unit] = field(default_factory=list)
    subsections: list[tuple[str, int, list[_Unit]]] = field(default_factory=list)

    def freeze(self) -> Section:
        subs = tuple(Subsection(h, _paragraphs(us), line) for h, line, us in self.subsections)
        return Section(self.number, self.title, _paragraphs(self.units), subs, self.line)


def _paragraphs(units: list[_Unit]) -> tuple[Paragraph, ...]:
    return tuple(Paragraph(_paragraph_text(u.text), u.line, u.bullet) for u in units)


@dataclass
class _AppealBuilder:
    heading: str
    line: int
    units: list[_Unit] = field(default_factory=list)

    def freeze(self) -> Appeal:
        return Appeal(self.heading, _paragraphs(self.units), self.line)


class _Body:
    """Everything after the masthead, read block by block."""

    def __init__(self, known: frozenset[int] = frozenset()) -> None:
        self.known = known  # lines of headings the source marked as such
        self.key_heading = ""
        self.key_decisions: list[Paragraph] = []
        self.summary_heading = ""
        self.summary_units: list[_Unit] = []
        self.sections: list[_SectionBuilder] = []
        self.appeal: _AppealBuilder | None = None
        self.key_units: list[_Unit] = []
        self.last: _Unit | None = None  # the paragraph a cut-off block would continue

    @property
    def summary(self) -> tuple[Paragraph, ...]:
        return _paragraphs(self.summary_units)

    def read(self, blocks: list[_Block], *, in_key_decisions: bool) -> None:
        in_key = in_key_decisions
        for i, block in enumerate(blocks):
            has_next = i + 1 < len(blocks)
            first = block.lines[0]
            # a heading is followed by a new sentence, never by the rest of its own
            marked = block.line in self.known and len(block.lines) == 1
            heading = marked or (
                has_next
                and not blocks[i + 1].text[:1].islower()
                and len(block.lines) == 1
                and _heading_shape(first)
            )
            if not marked and self.last is not None and self.continues(block, heading=heading):
                self.last.text = _join([self.last.text, block.text])
                continue
            if in_key and _BULLET.match(first):
                self.add_bullets(block, self.key_units)
                continue
            in_key = False
            appeal_heading = (
                has_next
                and len(block.lines) == 1
                and len(first) <= 60
                and bool(APPEAL_WORDS.search(first))
                and (heading or first.rstrip().endswith("!"))
            )
            section = _SECTION.match(first) if heading else None
            if self.appeal is None and appeal_heading:
                self.appeal = _AppealBuilder(_clean_heading(first), block.line)
                self.last = None
            elif self.appeal is None and section and int(section["number"]) > self.last_number:
                self.sections.append(
                    _SectionBuilder(
                        int(section["number"]), _clean_heading(section["title"]), block.line
                    )
                )
                self.last = None
            elif self.appeal is None and heading and self.sections:
                self.sections[-1].subsections.append((_clean_heading(first), block.line, []))
                self.last = None
            elif (
                self.appeal is None
                and heading
                and not self.summary_heading
                and not self.summary_units
            ):
                self.summary_heading = _clean_heading(first)
                self.last = None
            elif _BULLET.match(first):
                self.add_bullets(block, self.target())
            else:
                self.last = _Unit(block.text, block.line)
                self.target().append(self.last)
        self.key_decisions = list(_paragraphs(self.key_units))
        self.appeal_from_last_heading()

    def appeal_from_last_heading(self) -> None:
        """An appeal written as the paper's last unnumbered heading ("Support independent
        monitoring") reads as a sub-heading of the last section: make it the appeal when
        it, or the text under it, asks for money."""
        if self.appeal is not None or not self.sections or not self.sections[-1].subsections:
            return
        heading, line, units = self.sections[-1].subsections[-1]
        text = " ".join(u.text for u in units)
        if APPEAL_WORDS.search(heading) or (
            _APPEAL_HEADING.search(heading) and _APPEAL_TEXT.search(text)
        ):
            self.sections[-1].subsections.pop()
            self.appeal = _AppealBuilder(heading, line, units)

    @property
    def last_number(self) -> int:
        return self.sections[-1].number if self.sections else 0

    def continues(self, block: _Block, *, heading: bool) -> bool:
        """Is this block the rest of a paragraph that a page break cut?"""
        if self.last is None or _BULLET.match(block.lines[0]):
            return False
        if block.text[:1].islower():
            return True
        return not heading and not _complete(self.last.text)

    def add_bullets(self, block: _Block, target: list[_Unit]) -> None:
        """One unit per bullet line; unmarked lines continue the bullet above."""
        for offset, line in enumerate(block.lines):
            marker = _BULLET.match(line)
            if marker or not target or not target[-1].bullet:
                target.append(
                    _Unit(line[marker.end() :] if marker else line, block.line + offset, True)
                )
            else:
                target[-1].text = _join([target[-1].text, line])
        self.last = target[-1]

    def target(self) -> list[_Unit]:
        if self.appeal is not None:
            return self.appeal.units
        if self.sections:
            section = self.sections[-1]
            return section.subsections[-1][2] if section.subsections else section.units
        return self.summary_units


def is_bullet(line: str) -> bool:
    """Does this line start with a bullet of any common kind (``•``, ``- •``, ``-⇒``)?"""
    return bool(_BULLET.match(line))


def strip_bullet(line: str) -> str:
    """The line without its bullet."""
    marker = _BULLET.match(line)
    return line[marker.end() :] if marker else line
