"""A briefing paper file as staff have it (Word, PDF, HTML, Markdown or plain text) -> Briefing.

The kind of file is told from its first bytes, not its name: a Word file saved as
``paper.pdf`` or a PDF without an extension still imports. Each reader turns its
format into the plain-text shape that :mod:`newsletter.briefing.plaintext` rebuilds
(blank lines between blocks, ``- `` bullets, inline Markdown for links and emphasis),
and tells it which lines the document itself marked as headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from newsletter.briefing import markdown, plaintext
from newsletter.briefing.model import Briefing
from newsletter.errors import BriefingError

__all__ = ["Kind", "PaperText", "TextBuilder", "read_paper", "sniff"]

Kind = Literal["docx", "pdf", "html", "markdown", "text"]

_HTML_START = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body|<meta|<!--)", re.I)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
_HEADING_LINK = re.compile(r"\[([^\]]*)\]\([^)\s]*\)")
# Characters that would mean something in inline Markdown if copied from a document.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def sniff(data: bytes, name: str = "") -> Kind:
    """What the bytes are: a zip with ``word/document.xml``, ``%PDF``, HTML, else text.

    Markdown and plain text are both text; a ``.md`` name or a front matter makes it
    Markdown.
    """
    if data.startswith(b"PK\x03\x04"):
        if b"word/" in data[:65536] or b"[Content_Types].xml" in data[:65536]:
            return "docx"
        raise BriefingError(
            "this is a zip file but not a Word .docx (save it from Word as .docx, or as PDF)"
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise BriefingError(
            "this is an old Word .doc file: open it in Word and save it as .docx, then import that"
        )
    if data[:1024].lstrip().startswith(b"%PDF") or data.startswith(b"%PDF"):
        return "pdf"
    head = data[:2048].removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        return "html"
    if name.lower().endswith((".md", ".markdown")) or head.startswith(b"---"):
        return "markdown"
    return "text"


def escape(text: str) -> str:
    """Document text as inline Markdown that reads back as the same words."""
    return _MD_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class Span:
    """A stretch of document text with one formatting and at most one link target."""

    text: str
    bold: bool = False
    italic: bool = False
    url: str | None = None


def inline(spans: list[Span]) -> str:
    """Spans as one line of inline Markdown: ``[text](url)``, ``**bold**``, ``*italic*``.

    Spaces are kept outside the markers (``** x**`` would not be bold in Markdown), and
    neighbouring spans with the same link become one link.
    """
    out: list[str] = []
    i = 0
    while i < len(spans):
        url = spans[i].url
        j = i
        while j < len(spans) and spans[j].url == url:
            j += 1
        group = _emphasis(spans[i:j], plain=url is not None)
        if url:
            lead, core, trail = _edges(group)
            out.append(f"{lead}[{core}]({_target(url)}){trail}" if core else group)
        else:
            out.append(group)
        i = j
    return " ".join("".join(out).split())


def _emphasis(spans: list[Span], *, plain: bool) -> str:
    out: list[str] = []
    i = 0
    while i < len(spans):
        style = (spans[i].bold, spans[i].italic)
        j = i
        while j < len(spans) and (spans[j].bold, spans[j].italic) == style:
            j += 1
        text = escape("".join(span.text for span in spans[i:j]))
        marker = "" if plain else ("**" if style[0] else "") + ("*" if style[1] else "")
        if marker and text.strip():
            lead, core, trail = _edges(text)
            text = f"{lead}{marker}{core}{marker[::-1]}{trail}"
        out.append(text)
        i = j
    return "".join(out)


def _edges(text: str) -> tuple[str, str, str]:
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


def _target(url: str) -> str:
    """A link target written so Markdown reads it back whole (spaces, brackets)."""
    return url.strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29")


@dataclass
class PaperText:
    """A paper in the plain-text shape, and the 1-based lines that are known headings."""

    text: str
    headings: frozenset[int] = frozenset()
    notes: tuple[str, ...] = ()


@dataclass
class TextBuilder:
    """Collects headings, paragraphs and bullets; writes them as blank-line separated blocks."""

    lines: list[str] = field(default_factory=list)
    headings: set[int] = field(default_factory=set)
    in_list: bool = False

    def _gap(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def heading(self, text: str) -> None:
        # headings are plain words: links keep their text, emphasis and escapes go
        text = _HEADING_LINK.sub(r"\1", text).replace("**", "")
        text = " ".join(re.sub(r"\\(.)", r"\1", text).split()).strip("*_ ")
        if not text:
            return
        self._gap()
        self.lines.append(text)
        self.headings.add(len(self.lines))
        self.in_list = False

    def paragraph(self, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self._gap()
        self.lines.append(text)
        self.in_list = False

    def bullet(self, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if not self.in_list:
            self._gap()
        self.lines.append(f"- {text}")
        self.in_list = True

    def build(self, notes: tuple[str, ...] = ()) -> PaperText:
        return PaperText("\n".join(self.lines) + "\n", frozenset(self.headings), notes)


def _decode(data: bytes) -> tuple[str, str]:
    """Text and its encoding: UTF-8, UTF-16 with a BOM, or Windows-1252.

    Text saved on Windows is often UTF-16 (Notepad's "Unicode") or Windows-1252;
    UTF-8 is tried first because Windows-1252 would decode almost any bytes.
    """
    encodings = ["utf-16"] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else []
    for encoding in [*encodings, "utf-8-sig", "cp1252"]:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text, encoding
    raise BriefingError(
        "not a paper this can read: not Word (.docx), PDF, HTML or text "
        "(neither UTF-8 nor Windows-1252)"
    )


def _markdown_text(text: str) -> PaperText:
    """A Markdown paper without front matter: ``#`` headings become known headings."""
    out = TextBuilder()
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            joined = " ".join(paragraph)
            if plaintext.is_bullet(joined):
                out.bullet(plaintext.strip_bullet(joined))
            else:
                out.paragraph(joined)
            paragraph.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        heading = _MD_HEADING.match(line)
        if heading:
            flush()
            out.heading(heading["text"])
        elif not line:
            flush()
        elif plaintext.is_bullet(line):
            flush()
            paragraph.append(line)
        else:
            paragraph.append(line)
    flush()
    return out.build()


def read_paper(
    path: Path, *, number: int | None = None, when: date | None = None
) -> tuple[Briefing, Kind, tuple[str, ...]]:
    """Read any supported paper file: (briefing, kind of file, notes for the reader)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BriefingError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise BriefingError("is a directory, not a paper", path=str(path)) from None
    except OSError as exc:
        raise BriefingError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if not data.strip():
        raise BriefingError("the file is empty", path=str(path))
    try:
        kind = sniff(data, path.name)
        paper = _paper_text(data, kind)
        if paper is None:  # a Markdown file in the briefing format
            briefing = markdown.parse(data.decode("utf-8-sig"), source=str(path))
            return briefing, kind, ()
        briefing = plaintext.convert(paper.text, number=number, when=when, headings=paper.headings)
    except BriefingError as exc:
        if exc.path:
            raise
        raise BriefingError(str(exc), path=str(path), line=exc.line) from None
    except UnicodeDecodeError as exc:
        raise BriefingError(f"not UTF-8 text ({exc.reason})", path=str(path)) from None
    return briefing, kind, paper.notes


def _paper_text(data: bytes, kind: Kind) -> PaperText | None:
    """The paper in the plain-text shape; None for a Markdown file in the briefing format."""
    if kind == "docx":
        from newsletter.briefing.wordfile import word_text

        return word_text(data)
    if kind == "pdf":
        from newsletter.briefing.pdffile import pdf_text

        return pdf_text(data)
    if kind == "html":
        from newsletter.briefing.htmlfile import html_text

        text, _ = _decode(data)
        return html_text(text)
    text, encoding = _decode(data)
    notes = ("read as Windows-1252 (not UTF-8); written as UTF-8",) if encoding == "cp1252" else ()
    if kind == "markdown":
        if text.lstrip("\ufeff").startswith("---"):
            return None
        paper = _markdown_text(text)
        return PaperText(paper.text, paper.headings, notes)
    return PaperText(text, frozenset(), notes)
