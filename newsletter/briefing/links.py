"""Links that need a person: placeholders to fill in and targets that look wrong.

Works on the briefing's Markdown source, line by line, because filling a link means
editing that file: a fill changes only the target inside ``[text](target)`` and leaves
every other byte as staff wrote it. Which link is a problem is the linter's call
(``lint.link_problem``), so ``briefing links`` and ``briefing lint`` never disagree.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from newsletter.briefing.lint import link_problem
from newsletter.briefing.model import LINK_PATTERN, Link
from newsletter.errors import BriefingError

__all__ = ["Finding", "Row", "fill", "find", "read_rows"]

_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[A-Z“\"‘(\[])")
_VISIBLE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TARGET = re.compile(r"^(?:https?://[^\s<>()]+|mailto:[^\s<>()]+@[^\s<>()]+)$", re.I)


@dataclass(frozen=True)
class Finding:
    line: int
    text: str
    url: str
    reason: str
    sentence: str


@dataclass(frozen=True)
class Row:
    """One line of a links CSV: the link's text or line (or both), and its real URL."""

    text: str
    line: int | None
    url: str
    row: int


def _body_start(lines: list[str]) -> int:
    """Index of the first line after the front matter (0 when there is none)."""
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                return i + 1
    return 0


def _sentence(line: str, start: int) -> str:
    """The sentence of ``line`` around position ``start``, with links shown as their words."""
    begin, end = 0, len(line)
    for match in _SENTENCE.finditer(line):
        if match.end() <= start:
            begin = match.end()
        elif match.start() >= start:
            end = match.start()
            break
    return " ".join(_VISIBLE.sub(r"\1", line[begin:end]).split())


def find(source: str) -> list[Finding]:
    """Every placeholder or suspicious link of a briefing source, in line order."""
    lines = source.split("\n")
    out: list[Finding] = []
    for index in range(_body_start(lines), len(lines)):
        line = lines[index]
        for match in LINK_PATTERN.finditer(line):
            problem = link_problem(Link(match["text"], match["url"], index + 1), for_sending=True)
            if problem is not None:
                out.append(
                    Finding(
                        index + 1,
                        match["text"],
                        match["url"],
                        problem[2].removeprefix(f"link {match['text']!r} "),
                        _sentence(line, match.start()).removeprefix("- "),
                    )
                )
    return out


def read_rows(data: str) -> list[Row]:
    """Rows of a CSV with a ``url`` column and ``text`` and/or ``line``; ``BriefingError``
    naming the row for anything unusable, so nothing is half-filled by mistake."""
    reader = csv.DictReader(io.StringIO(data.removeprefix("\ufeff")))
    columns = {(c or "").strip().lower() for c in reader.fieldnames or []}
    if "url" not in columns or not columns & {"text", "line"}:
        raise BriefingError("the links CSV needs the columns text,url or line,url (first row)")
    rows: list[Row] = []
    for number, raw in enumerate(reader, start=2):
        record = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        url, text, line = record.get("url", ""), record.get("text", ""), record.get("line", "")
        if not (url or text or line):
            continue
        if not _TARGET.match(url):
            raise BriefingError(
                f"row {number}: {url!r} is not a full https:// (or mailto:) address"
            )
        if line and not line.isdigit():
            raise BriefingError(f"row {number}: line must be a number, not {line!r}")
        if not text and not line:
            raise BriefingError(f"row {number}: give the link's text or its line")
        rows.append(Row(text, int(line) if line else None, url, number))
    return rows


def fill(source: str, rows: list[Row]) -> tuple[str, int, list[Row]]:
    """Put each row's URL on the problem links it names: (new source, links filled, rows
    that matched no problem link). A row with a text fills every such link with that text
    (on its line, if one is given); a row with only a line fills that line's one link."""
    lines = source.split("\n")
    problems = find(source)
    filled = 0
    unused: list[Row] = []
    for row in rows:
        targets = [
            f
            for f in problems
            if (row.line is None or f.line == row.line)
            and (not row.text or " ".join(f.text.split()) == " ".join(row.text.split()))
        ]
        if row.line is not None and not row.text and len(targets) > 1:
            raise BriefingError(
                f"row {row.row}: line {row.line} has {len(targets)} links to fill: "
                "add a text column to say which"
            )
        if not targets:
            unused.append(row)
            continue
        for target in targets:
            index = target.line - 1
            old = f"[{target.text}]({target.url})"
            new = f"[{target.text}]({row.url})"
            if old in lines[index]:
                lines[index] = lines[index].replace(old, new, 1)
                filled += 1
        problems = [f for f in problems if f not in targets]
    return "\n".join(lines), filled, unused
