"""A PDF paper -> paper text: reading order, no running headers, links back on their words.

Read with pdfplumber (MIT, on pdfminer.six, MIT): it gives every word with its box and
font and every link annotation with its rectangle and URI, which is what putting a
link back onto its anchor text needs (pypdf's text extraction has no word boxes;
PyMuPDF is AGPL). The rules, all from the page's geometry:

* words are grouped into lines by their top edge, lines into paragraphs by the gap
  above them (more than about half a line) or a change of font size;
* a line in the top or bottom tenth of the page that repeats on other pages (digits
  aside) is a running header or footer, and a bare page number there is dropped;
* a line set larger than the body text, or all in bold, is a heading;
* a word whose centre lies inside a link's rectangle carries that link's URI.

Paragraphs a page break cut in two are joined later by the plain-text rules.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from newsletter.briefing.paper import PaperText, Span, TextBuilder, inline
from newsletter.errors import BriefingError

__all__ = ["SCAN_MESSAGE", "pdf_text"]

SCAN_MESSAGE = "this PDF is a scan (it has no text layer): export it from Word or add a text layer"
_DAMAGED = "it is damaged or not really a PDF (export it again from Word)"
_MARGIN = 0.1  # top and bottom share of a page where running headers and footers live
_PAGE_NUMBER = re.compile(r"(?i)^[-–—\s]*(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[-–—\s]*$")
_BULLET_START = re.compile(r"^[•·▪◦‣●○■□◆◇❖⁃➢➤►▸▹▶⇒→✓✔❑\uf0b7\uf0a7\uf0d8-]$")


@dataclass
class _Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    italic: bool
    parts: tuple[tuple[str, str | None], ...] = ()  # the word cut where a link starts or ends


@dataclass
class _Line:
    words: list[_Word]
    page: int
    page_height: float

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def x0(self) -> float:
        return min(w.x0 for w in self.words)

    @property
    def size(self) -> float:
        return round(max(w.size for w in self.words), 1)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def bold(self) -> bool:
        return all(w.bold for w in self.words)

    @property
    def in_margin(self) -> bool:
        return self.bottom < self.page_height * _MARGIN or self.top > self.page_height * (
            1 - _MARGIN
        )


@dataclass
class _Paragraph:
    lines: list[_Line] = field(default_factory=list)
    heading: bool = False
    bullet: bool = False


def pdf_text(data: bytes) -> PaperText:
    """The PDF's text in the plain-text shape; ``BriefingError`` for a scan or a broken file."""
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            lines = [line for number, page in enumerate(pdf.pages) for line in _lines(page, number)]
    except (PDFSyntaxError, ValueError, KeyError, TypeError):
        raise BriefingError(f"this PDF cannot be read: {_DAMAGED}") from None
    except Exception as exc:  # pdfminer raises many kinds for damaged or encrypted files
        if "password" in str(exc).lower() or "encrypt" in str(exc).lower():
            raise BriefingError("this PDF is password-protected: save a copy without it") from None
        raise BriefingError(f"this PDF cannot be read: {_DAMAGED}") from None
    if not any(line.text.strip() for line in lines):
        raise BriefingError(SCAN_MESSAGE)
    lines = _without_running_lines(lines)
    body_size = _body_size(lines)
    out = TextBuilder()
    for paragraph in _paragraphs(lines, body_size):
        spans = [
            Span(
                text + (" " if i == len(w.parts) - 1 else ""),
                w.bold and not paragraph.heading,
                w.italic and not paragraph.heading,
                url,
            )
            for line in paragraph.lines
            for w in line.words
            for i, (text, url) in enumerate(w.parts)
        ]
        text = _join_hyphens(inline(spans))
        if paragraph.heading:
            out.heading(text)
        elif paragraph.bullet:
            out.bullet(
                re.sub(r"^(?:\\?[•·▪◦‣●○■□◆◇❖⁃➢➤►▸▹▶⇒→✓✔❑\uf0b7\uf0a7\uf0d8-]\s*)+", "", text)
            )
        else:
            out.paragraph(text)
    return out.build()


def _lines(page: Any, number: int) -> list[_Line]:
    words = page.extract_words(
        keep_blank_chars=False,
        use_text_flow=False,
        extra_attrs=["fontname", "size"],
        return_chars=True,
    )
    links = [
        (link["x0"], link["top"], link["x1"], link["bottom"], link.get("uri"))
        for link in page.hyperlinks
        if link.get("uri")
    ]
    items: list[_Word] = []
    for w in words:
        font = str(w.get("fontname", "")).lower()
        parts: list[tuple[str, str | None]] = []
        for char in w.get("chars") or [w]:
            x, y = (char["x0"] + char["x1"]) / 2, (char["top"] + char["bottom"]) / 2
            url = next((u for x0, t, x1, b, u in links if x0 <= x <= x1 and t <= y <= b), None)
            if parts and parts[-1][1] == url:
                parts[-1] = (parts[-1][0] + char["text"], url)
            else:
                parts.append((char["text"], url))
        items.append(
            _Word(
                w["text"],
                w["x0"],
                w["x1"],
                w["top"],
                w["bottom"],
                float(w.get("size", 0)),
                "bold" in font or "black" in font or "heavy" in font,
                "italic" in font or "oblique" in font,
                tuple(parts),
            )
        )
    items.sort(key=lambda w: (round(w.top), w.x0))
    out: list[_Line] = []
    for word in items:
        current = out[-1] if out else None
        if current and abs(word.top - current.words[0].top) <= max(2.0, word.size * 0.3):
            current.words.append(word)
        else:
            out.append(_Line([word], number, float(page.height)))
    for line in out:
        line.words.sort(key=lambda w: w.x0)
    return out


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _without_running_lines(lines: list[_Line]) -> list[_Line]:
    """Drop page numbers, and headers and footers that repeat on several pages."""
    pages = len({line.page for line in lines})
    seen: Counter[str] = Counter()
    for line in lines:
        if line.in_margin:
            seen[_shape(line.text)] += 1
    repeat = 2 if pages > 1 else 10**9
    return [
        line
        for line in lines
        if not (
            line.in_margin
            and (_PAGE_NUMBER.match(line.text) or seen[_shape(line.text)] >= min(repeat, pages))
        )
    ]


def _body_size(lines: list[_Line]) -> float:
    sizes: Counter[float] = Counter()
    for line in lines:
        for word in line.words:
            sizes[round(word.size, 1)] += len(word.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _paragraphs(lines: list[_Line], body_size: float) -> list[_Paragraph]:
    out: list[_Paragraph] = []
    previous: _Line | None = None
    for line in lines:
        heading = line.size >= body_size * 1.15 or (line.bold and len(line.text) <= 120)
        bullet = bool(_BULLET_START.match(line.words[0].text)) or line.words[0].text.startswith(
            ("•", "▪", "◦", "●", "⇒", "➢", "\uf0b7")
        )
        new = (
            previous is None
            or not out
            or line.page != previous.page
            or line.top - previous.bottom > max(line.size, previous.size) * 0.5
            or abs(line.size - previous.size) > 0.5
            or heading != out[-1].heading
            or bullet
        )
        if new:
            out.append(_Paragraph([line], heading, bullet))
        else:
            out[-1].lines.append(line)
        previous = line
    return out


def _join_hyphens(text: str) -> str:
    """A word hyphenated at a line end ("govern- ment") made whole again."""
    return re.sub(r"(?<=[a-z])- (?=[a-z])", "", text)
