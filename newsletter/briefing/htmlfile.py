"""An HTML paper (a page saved from a browser or exported by a word processor) -> paper text.

Only the structure a briefing uses is kept: ``h1``-``h6`` headings, paragraphs, list
items, links with their targets, bold and italic. Scripts, styles, navigation and
forms are dropped; everything else is read as running text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from newsletter.briefing.paper import PaperText, TextBuilder, escape

__all__ = ["html_text"]

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "title"}
_BLOCKS = {"p", "div", "section", "article", "blockquote", "td", "th", "dd", "dt", "pre", "tr"}
_SKIP = {"script", "style", "nav", "noscript", "template", "svg", "form", "button", "select"}
_SPACE = re.compile(r"\s+")
_BOLD = {"b", "strong"}
_ITALIC = {"i", "em"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = TextBuilder()
        self.parts: list[str] = []
        self.kind = "p"  # what the text being collected is: "p", "li" or "h"
        self.skip = 0
        self.href: str | None = None
        self.link_start = 0
        self.in_head = False

    def flush(self) -> None:
        if self.href is not None:
            self._close_link()
        text = "".join(self.parts).strip()
        self.parts = []
        if text:
            if self.kind == "h":
                self.out.heading(text)
            elif self.kind == "li":
                self.out.bullet(text)
            else:
                self.out.paragraph(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        if tag in _SKIP:
            self.skip += 1
        if self.skip or self.in_head:
            return
        if tag in _BLOCKS and self.kind == "li" and not "".join(self.parts).strip():
            return  # <li><p>text</p></li>: still the list item
        if tag in _HEADINGS or tag == "li" or tag in _BLOCKS:
            self.flush()
            self.kind = "h" if tag in _HEADINGS else "li" if tag == "li" else "p"
        elif tag == "br":
            self.parts.append(" ")
        elif tag in _BOLD:
            self.parts.append("**")
        elif tag in _ITALIC:
            self.parts.append("*")
        elif tag == "a":
            href = dict(attrs).get("href")
            if href and not href.startswith("#"):
                self.href = href.strip()
                self.parts.append("[")
                self.link_start = len(self.parts)

    def _close_link(self) -> None:
        inner = "".join(self.parts[self.link_start :]).strip()
        del self.parts[self.link_start - 1 :]
        self.parts.append(f"[{inner}]({_url(self.href or '')})" if inner else "")
        self.href = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip or self.in_head:
            return
        if tag in _HEADINGS or tag == "li" or tag in _BLOCKS or tag in ("ul", "ol"):
            self.flush()
            self.kind = "p"
        elif tag in _BOLD:
            self.parts.append("**")
        elif tag in _ITALIC:
            self.parts.append("*")
        elif tag == "a" and self.href is not None:
            self._close_link()

    def handle_data(self, data: str) -> None:
        if not self.skip and not self.in_head:
            self.parts.append(escape(_SPACE.sub(" ", data)))


def _url(href: str) -> str:
    """A link target written so Markdown reads it back whole (spaces, brackets)."""
    return href.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def html_text(source: str) -> PaperText:
    reader = _Reader()
    reader.feed(source)
    reader.close()
    reader.flush()
    return reader.out.build()
