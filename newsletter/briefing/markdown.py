"""The briefing source format: Markdown with YAML front matter (see docs/briefing-format.md).

Staff edit these files by hand, so every mistake is reported as a ``BriefingError``
carrying the file and the 1-based line, never as a traceback. ``writer.dump`` writes
the canonical form that ``parse`` reads back unchanged (apart from line numbers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from newsletter.briefing import topics as section_topics
from newsletter.briefing.model import Appeal, Briefing, Contact, Paragraph, Section, Subsection
from newsletter.briefing.writer import CONTACT_KEYS
from newsletter.errors import BriefingError

__all__ = ["APPEAL_WORDS", "load", "parse"]

# A heading naming a donation appeal: used by the importer and for unmarked headings here.
APPEAL_WORDS = re.compile(r"(?i)\b(?:donat(?:e|es|ed|ing|ion|ions)|support\s+us)\b")

_FRONT_KEYS = (
    "number",
    "date",
    "title",
    "subtitle",
    "contact",
    "topics",
    "language",
    "series",
    "subject",
)
_MARKERS = ("key-decisions", "summary", "appeal")
_MARKER = re.compile(r"\s*\{\.(?P<name>[A-Za-z][\w-]*)\}\s*$")
_NUMBERED = re.compile(r"^(?P<number>\d{1,4})\.\s+(?P<title>\S.*)$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Only the block structure is needed: paragraphs keep their inline source untouched.
_MD = MarkdownIt("commonmark").use(front_matter_plugin).disable(["inline", "text_join"])
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: Path) -> Briefing:
    """Read and parse a briefing file; unreadable files become ``BriefingError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BriefingError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise BriefingError("is a directory, not a briefing file", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise BriefingError(f"not UTF-8 text ({exc.reason})", path=str(path)) from None
    except OSError as exc:
        raise BriefingError(f"cannot read: {exc.strerror}", path=str(path)) from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "") -> Briefing:
    """Parse briefing Markdown; ``source`` names the file in error messages."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    tokens = _MD.parse(text)
    if not tokens or tokens[0].type != "front_matter":
        if text.startswith("---"):
            raise _error("the front matter opened by '---' is never closed", source, 1)
        raise _error("missing front matter: the file must start with a '---' line", source, 1)
    front = _front_matter(tokens[0], source)
    body = _Body(source)
    body.read(tokens[1:])
    return Briefing(
        number=front["number"],
        date=front["date"],
        title=front["title"],
        subtitle=front["subtitle"],
        contact=front["contact"],
        topics=front["topics"],
        language=front["language"],
        key_decisions_heading=body.key_heading or "Key decisions",
        key_decisions=tuple(body.key_decisions),
        summary_heading=body.summary_heading or "Summary",
        summary=tuple(body.summary),
        sections=tuple(s.freeze() for s in body.sections),
        appeal=body.appeal.freeze() if body.appeal else None,
        source=source,
        series=front["series"] or "Briefing",
        email_subject=front["subject"],
    )


def _error(message: str, source: str, line: int | None) -> BriefingError:
    return BriefingError(message, path=source or "<briefing>", line=line)


def _line(token: Token) -> int:
    return token.map[0] + 1 if token.map else 0


def _front_matter(token: Token, source: str) -> dict[str, Any]:
    """Validate the YAML header; each complaint points at the line of its key."""
    content = token.content
    lines = content.split("\n")

    def line_of(key: str) -> int:
        for i, line in enumerate(lines):
            if re.match(rf"\s*{re.escape(key)}\s*:", line):
                return i + 2  # the opening '---' is line 1
        return 1

    try:
        data = yaml.load(content, Loader=_Loader) if content.strip() else {}  # noqa: S506 -- a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark else 1
        raise _error(f"front matter is not valid YAML: {exc.problem}", source, line) from None
    except (yaml.YAMLError, ValueError) as exc:  # e.g. 2023-13-45 matches YAML's date form
        message = f"a date in the front matter is not a real day ({exc})"
        raise _error(message, source, line_of("date")) from None
    if not isinstance(data, dict):
        raise _error("front matter must be 'key: value' lines", source, 2)
    for key in data:
        if key not in _FRONT_KEYS:
            expected = ", ".join(_FRONT_KEYS)
            raise _error(
                f"unknown front matter key {key!r} (expected {expected})", source, line_of(str(key))
            )

    number = data.get("number")
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if number is None:
        raise _error("missing 'number' in the front matter", source, 1)
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise _error(
            f"'number' must be a positive whole number, not {number!r}", source, line_of("number")
        )

    when = data.get("date")
    if when is None:
        raise _error("missing 'date' in the front matter (YYYY-MM-DD)", source, 1)
    if isinstance(when, datetime):
        raise _error("'date' must be a day (YYYY-MM-DD), not a time", source, line_of("date"))
    if isinstance(when, str):
        try:
            when = date.fromisoformat(when.strip())
        except ValueError:
            raise _error(
                f"'date' must be YYYY-MM-DD, not {when!r}", source, line_of("date")
            ) from None
    if not isinstance(when, date):
        raise _error(f"'date' must be YYYY-MM-DD, not {when!r}", source, line_of("date"))

    title = data.get("title")
    if title is None or (isinstance(title, str) and not title.strip()):
        raise _error("missing 'title' in the front matter", source, line_of("title"))
    out: dict[str, Any] = {"number": number, "date": when}
    for key in ("title", "subtitle", "language", "series", "subject"):
        value = data.get(key, "en" if key == "language" else "")
        if value is None:
            value = ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _error(f"'{key}' must be text", source, line_of(key))
        out[key] = str(value).strip()
    if not _LANGUAGE.match(out["language"]):
        raise _error(
            f"'language' must be a code like 'en' or 'fr-BE', not {out['language']!r}",
            source,
            line_of("language"),
        )

    contact = data.get("contact") or {}
    if not isinstance(contact, dict):
        raise _error(
            "'contact' must have name, email and website lines", source, line_of("contact")
        )
    for key in contact:
        if key not in CONTACT_KEYS:
            raise _error(
                f"unknown contact field {key!r} (expected name, email, website)",
                source,
                line_of(str(key)),
            )
    out["contact"] = Contact(**{k: str(contact.get(k) or "").strip() for k in CONTACT_KEYS})

    topics = data.get("topics") or []
    if isinstance(topics, str):
        topics = [topics]
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise _error("'topics' must be a list of words", source, line_of("topics"))
    out["topics"] = tuple(t.strip() for t in topics if t.strip())
    return out


@dataclass
class _SectionBuilder:
    number: int
    title: str
    line: int
    paragraphs: list[Paragraph] = field(default_factory=list)
    subsections: list[tuple[str, int, list[Paragraph]]] = field(default_factory=list)
    topics: tuple[str, ...] | None = None  # its "Topics:" line, once read
    topics_line: int = 0

    def freeze(self) -> Section:
        subs = tuple(Subsection(h, tuple(ps), line) for h, line, ps in self.subsections)
        topics = (self.topics or (), self.topics_line)
        return Section(self.number, self.title, tuple(self.paragraphs), subs, self.line, *topics)


@dataclass
class _AppealBuilder:
    heading: str
    line: int
    paragraphs: list[Paragraph] = field(default_factory=list)

    def freeze(self) -> Appeal:
        return Appeal(self.heading, tuple(self.paragraphs), self.line)


class _Body:
    """Walks the top-level Markdown blocks and files each one under its heading."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.key_heading = ""
        self.key_decisions: list[Paragraph] = []
        self.summary_heading = ""
        self.summary: list[Paragraph] = []
        self.sections: list[_SectionBuilder] = []
        self.appeal: _AppealBuilder | None = None
        self.part = ""  # "", "key-decisions", "summary", "section", "appeal"
        self.seen: set[str] = set()

    def fail(self, message: str, token: Token) -> BriefingError:
        return _error(message, self.source, _line(token))

    def read(self, tokens: Sequence[Token]) -> None:
        i = 0
        while i < len(tokens):
            token = tokens[i]
            kind = token.type
            if kind == "heading_open":
                self.heading(
                    token, tokens[i + 1].content, tokens[i + 3] if i + 3 < len(tokens) else None
                )
                i += 3
            elif kind == "paragraph_open":
                self.add(Paragraph(tokens[i + 1].content, _line(token)), token)
                i += 3
            elif kind == "bullet_list_open":
                i = self.bullets(tokens, i)
            elif kind == "hr":
                i += 1
            else:
                raise self.fail(_unsupported(kind), token)

    def heading(self, token: Token, content: str, after: Token | None) -> None:
        line = _line(token)
        if token.tag == "h1":
            raise self.fail(
                "a '#' title heading is not used: put the title in the front matter", token
            )
        if token.tag not in ("h2", "h3"):
            raise self.fail("only '##' sections and '###' sub-headings are allowed", token)
        marker = _MARKER.search(content)
        text = _unescape(content[: marker.start()] if marker else content).strip()
        if not text:
            raise self.fail("empty heading", token)
        if token.tag == "h3":
            if marker:
                raise self.fail("markers like {.appeal} belong on '##' headings", token)
            if self.part != "section":
                raise self.fail(
                    "a '###' sub-heading must be inside a numbered '## N. Title' section", token
                )
            self.sections[-1].subsections.append((text, line, []))
            return
        if self.part == "appeal":
            raise self.fail("the appeal must be the last section", token)
        name = marker.group("name") if marker else self.guess(text, after)
        if name not in _MARKERS and name != "section":
            raise self.fail(
                f"unknown marker {{.{name}}} "
                "(expected {.key-decisions}, {.summary} or {.appeal})",
                token,
            )
        if name in self.seen and name != "section":
            raise self.fail(f"a second {{.{name}}} section", token)
        if name in ("key-decisions", "summary") and self.sections:
            raise self.fail(
                f"the {{.{name}}} section must come before the numbered sections", token
            )
        self.seen.add(name)
        self.part = name
        if name == "key-decisions":
            self.key_heading = text
        elif name == "summary":
            self.summary_heading = text
        elif name == "appeal":
            self.appeal = _AppealBuilder(text, line)
        else:
            numbered = _NUMBERED.match(text)
            if not numbered:
                raise self.fail("expected a numbered section heading like '## 1. Title'", token)
            number = int(numbered["number"])
            if self.sections and number <= self.sections[-1].number:
                raise self.fail(
                    f"section {number} comes after section {self.sections[-1].number}: "
                    "numbers must increase",
                    token,
                )
            self.sections.append(_SectionBuilder(number, numbered["title"].strip(), line))

    def guess(self, text: str, after: Token | None) -> str:
        """Name an unmarked '##' heading from its place, its form and what follows it."""
        if _NUMBERED.match(text):
            return "section"
        if self.sections:
            if APPEAL_WORDS.search(text):
                return "appeal"
            return "unnumbered"
        if (
            "key-decisions" not in self.seen
            and after is not None
            and after.type == "bullet_list_open"
        ):
            return "key-decisions"
        if "summary" not in self.seen:
            return "summary"
        return "unnumbered"

    def bullets(self, tokens: Sequence[Token], i: int) -> int:
        depth = 0
        item_line = 0
        while True:
            token = tokens[i]
            if token.type == "bullet_list_open":
                depth += 1
                if depth > 1:
                    raise self.fail("lists inside lists are not supported", token)
            elif token.type == "bullet_list_close":
                return i + 1
            elif token.type == "list_item_open":
                item_line = _line(token)
                texts: list[str] = []
            elif token.type == "inline":
                texts.append(token.content)
            elif token.type == "list_item_close":
                if len(texts) != 1:
                    raise _error("each bullet must be one paragraph", self.source, item_line)
                self.add(Paragraph(texts[0], item_line, bullet=True), token, item_line)
            elif token.type not in ("paragraph_open", "paragraph_close"):
                raise self.fail(_unsupported(token.type) + " inside a bullet list", token)
            i += 1

    def add(self, paragraph: Paragraph, token: Token, line: int | None = None) -> None:
        where = line or _line(token)
        if self.part == "":
            raise _error("text before the first '##' heading", self.source, where)
        if self.part == "key-decisions":
            if not paragraph.bullet:
                raise _error("key decisions must be a bullet list ('- ...')", self.source, where)
            self.key_decisions.append(paragraph)
        elif self.part == "summary":
            self.summary.append(paragraph)
        elif self.part == "appeal" and self.appeal:
            self.appeal.paragraphs.append(paragraph)
        else:
            section = self.sections[-1]
            first = not (section.paragraphs or section.subsections or section.topics is not None)
            named = section_topics.parse_line(paragraph.text) if first else None
            if named is not None and not paragraph.bullet:  # the "Topics: a, b" line
                section.topics, section.topics_line = named, where
                return
            target = section.subsections[-1][2] if section.subsections else section.paragraphs
            target.append(paragraph)


def _unsupported(kind: str) -> str:
    names = {
        "ordered_list_open": "numbered lists are not supported (use '-' bullets)",
        "blockquote_open": "block quotes are not supported",
        "fence": "code blocks are not supported",
        "code_block": "indented code blocks are not supported (remove the leading spaces)",
        "html_block": "raw HTML blocks are not allowed",
    }
    return names.get(kind, f"unsupported Markdown block ({kind})")


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(r"\1", text)
