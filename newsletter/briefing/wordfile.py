"""A Word paper (.docx) -> paper text, with headings, lists, emphasis and link targets.

Read with python-docx (MIT) rather than converted with mammoth: the briefing needs
what a converter decides for us and may drop, namely the numbers Word generates for
numbered headings ("3. Strategic competition" where the "3." is list numbering), link
targets written as ``HYPERLINK`` field codes (older Word and many export tools) beside
ordinary hyperlinks, and masthead lines kept in tables and page headers. python-docx
gives the document's own XML and relationships, so each of those is a few lines here;
the tests build their Word files with the same library.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from newsletter.briefing.paper import PaperText, Span, TextBuilder, inline
from newsletter.errors import BriefingError

__all__ = ["word_text"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_HEADING_STYLE = re.compile(r"(?i)^(?:heading\s*(?P<level>\d)|title)$")
_FIELD_URL = re.compile(r'(?i)^\s*HYPERLINK\s+"(?P<url>[^"]+)"')
_OFF = ("0", "false", "off", "none")


def word_text(data: bytes) -> PaperText:
    """The Word file's text in the plain-text shape; ``BriefingError`` if it is not Word."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BriefingError(f"not a Word .docx file this can read ({exc})") from None
    reader = _Reader(document)
    for section in document.sections[:1]:
        for paragraph in section.header.paragraphs:
            reader.paragraph(paragraph._p)
    for element in document.element.body.iterchildren():
        reader.block(element)
    return reader.out.build()


class _Reader:
    def __init__(self, document: Any) -> None:
        self.document = document
        self.part = document.part
        self.out = TextBuilder()
        self.counters: dict[tuple[str, int], int] = {}
        self.formats = _numbering_formats(self.part)

    def block(self, element: Any) -> None:
        tag = element.tag
        if tag == f"{_W}p":
            self.paragraph(element)
        elif tag == f"{_W}tbl":
            for cell in element.iter(f"{_W}tc"):
                for child in cell.iterchildren():
                    if child.tag == f"{_W}p":
                        self.paragraph(child)
        elif tag == f"{_W}sdt":
            content = element.find(f"{_W}sdtContent")
            if content is not None:
                for child in content.iterchildren():
                    self.block(child)

    def paragraph(self, p: Any) -> None:
        style = self._style(p)
        level = _heading_level(style, p)
        text = inline(list(self._spans(p, self.part))).strip()
        numbering = _numbering(p, style)
        if not text:
            return
        if level is not None:
            label = self._label(numbering) if numbering else ""
            if label and not re.match(r"^\d", text):
                text = f"{label} {text}"
            self.out.heading(text)
        elif numbering or (style is not None and (style.name_val or "").lower().startswith("list")):
            self.out.bullet(text)
        else:
            self.out.paragraph(text)

    def _style(self, p: Any) -> Any:
        style_id = p.style
        try:
            return self.document.styles.element.get_by_id(style_id) if style_id else None
        except KeyError:
            return None

    def _label(self, numbering: tuple[str, int]) -> str:
        """The number Word shows before a numbered heading: "3." for the third."""
        num_id, level = numbering
        if self.formats.get((num_id, level), "decimal") in ("bullet", "none"):
            return ""
        key = (num_id, level)
        self.counters[key] = self.counters.get(key, 0) + 1
        for deeper in [k for k in self.counters if k[0] == num_id and k[1] > level]:
            del self.counters[deeper]
        return f"{self.counters[key]}." if level == 0 else ""

    def _spans(self, element: Any, part: Any) -> Iterator[Span]:
        """The paragraph's text spans in order, with the link target of each."""
        field_url: str | None = None
        in_instruction = False
        instruction = ""
        for child in element.iterchildren():
            tag = child.tag
            if tag == f"{_W}r":
                for mark in child.iter(f"{_W}fldChar"):
                    kind = mark.get(f"{_W}fldCharType")
                    if kind == "begin":
                        in_instruction, instruction = True, ""
                    elif kind == "separate":
                        in_instruction = False
                        found = _FIELD_URL.match(instruction)
                        field_url = found["url"] if found else None
                    elif kind == "end":
                        in_instruction, field_url = False, None
                if in_instruction:
                    instruction += "".join(t.text or "" for t in child.iter(f"{_W}instrText"))
                    continue
                yield from _run(child, field_url)
            elif tag == f"{_W}hyperlink":
                url = _hyperlink_url(child, part)
                for span in self._spans(child, part):
                    yield Span(span.text, span.bold, span.italic, url or span.url)
            elif tag == f"{_W}fldSimple":
                found = _FIELD_URL.match(child.get(f"{_W}instr") or "")
                for span in self._spans(child, part):
                    yield Span(span.text, span.bold, span.italic, found["url"] if found else None)
            elif tag in (f"{_W}ins", f"{_W}smartTag", f"{_W}customXml"):
                yield from self._spans(child, part)
            elif tag == f"{_W}sdt":
                content = child.find(f"{_W}sdtContent")
                if content is not None:
                    yield from self._spans(content, part)


def _run(run: Any, url: str | None) -> Iterator[Span]:
    props = run.find(f"{_W}rPr")
    bold = italic = False
    if props is not None:
        bold = _on(props.find(f"{_W}b"))
        italic = _on(props.find(f"{_W}i"))
        style = props.find(f"{_W}rStyle")
        name = (style.get(f"{_W}val") or "").lower() if style is not None else ""
        bold = bold or name in ("strong", "bold")
        italic = italic or name in ("emphasis", "italic")
    text: list[str] = []
    for child in run.iterchildren():
        tag = child.tag
        if tag == f"{_W}t":
            text.append(child.text or "")
        elif tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
            text.append(" ")
        elif tag == f"{_W}noBreakHyphen":
            text.append("-")
    if text:
        yield Span("".join(text), bold, italic, url)


def _on(element: Any) -> bool:
    return element is not None and (element.get(f"{_W}val") or "true").lower() not in _OFF


def _hyperlink_url(element: Any, part: Any) -> str | None:
    """An external link's target; an internal bookmark (``w:anchor``) is no link in email."""
    rel_id = element.get(f"{_R}id")
    if rel_id and rel_id in part.rels:
        rel = part.rels[rel_id]
        if rel.is_external:
            return str(rel.target_ref)
    return None


def _heading_level(style: Any, p: Any) -> int | None:
    """0 for Title, N for "Heading N" (or a style based on one), or an outline level."""
    seen = 0
    while style is not None and seen < 10:
        name = style.name_val or ""
        found = _HEADING_STYLE.match(name)
        if found:
            return int(found["level"] or 0)
        style = style.base_style
        seen += 1
    props = p.pPr
    outline = props.find(f"{_W}outlineLvl") if props is not None else None
    if outline is not None and (outline.get(f"{_W}val") or "9").isdigit():
        value = int(outline.get(f"{_W}val") or 9)
        return value + 1 if value < 9 else None
    return None


def _numbering(p: Any, style: Any) -> tuple[str, int] | None:
    """(numbering id, level) of a list or numbered paragraph, its own or its style's."""
    for owner in (p, style):
        props = owner.find(f"{_W}pPr") if owner is not None else None
        num = props.find(f"{_W}numPr") if props is not None else None
        if num is None:
            continue
        num_id = num.find(f"{_W}numId")
        level = num.find(f"{_W}ilvl")
        value = num_id.get(f"{_W}val") if num_id is not None else None
        if value and value != "0":
            return value, int(level.get(f"{_W}val") or 0) if level is not None else 0
    return None


def _numbering_formats(part: Any) -> dict[tuple[str, int], str]:
    """numFmt ("decimal", "bullet"...) of every (numbering id, level) in the document."""
    try:
        numbering = part.numbering_part.element
    except (KeyError, NotImplementedError):
        return {}
    abstract: dict[str, dict[int, str]] = {}
    for node in numbering.iterchildren(f"{_W}abstractNum"):
        levels: dict[int, str] = {}
        for lvl in node.iterchildren(f"{_W}lvl"):
            fmt = lvl.find(f"{_W}numFmt")
            levels[int(lvl.get(f"{_W}ilvl") or 0)] = (
                fmt.get(f"{_W}val") if fmt is not None else "decimal"
            ) or "decimal"
        abstract[node.get(f"{_W}abstractNumId") or ""] = levels
    out: dict[tuple[str, int], str] = {}
    for num in numbering.iterchildren(f"{_W}num"):
        ref = num.find(f"{_W}abstractNumId")
        levels = abstract.get(ref.get(f"{_W}val") or "" if ref is not None else "", {})
        for level, fmt in levels.items():
            out[num.get(f"{_W}numId") or "", level] = fmt
    return out
