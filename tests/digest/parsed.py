"""Read rendered HTML the way a checker would: elements, attributes, text, comments, font sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_VOID = {"br", "img", "meta", "link", "hr", "input", "source", "col", "area", "base", "wbr"}
_BLOCK = {
    "p",
    "div",
    "td",
    "th",
    "tr",
    "table",
    "li",
    "ul",
    "ol",
    "br",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "main",
    "body",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}
_FONT = re.compile(r"font-size\s*:\s*(\d+(?:\.\d+)?)px")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    in_head: bool


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.comments: list[str] = []
        self.texts: list[tuple[str, float | None, bool]] = []  # text, font px, hidden
        self._stack: list[tuple[str, float | None, bool]] = []
        self._head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append(Element(tag, values, self._head))
        if tag in _BLOCK:
            self.texts.append((" ", None, False))
        if tag == "head":
            self._head = True
        if tag in _VOID:
            return
        style = values.get("style", "")
        size = _FONT.search(style)
        parent_px = self._stack[-1][1] if self._stack else None
        parent_hidden = self._stack[-1][2] if self._stack else False
        hidden = parent_hidden or "display:none" in style.replace(" ", "")
        self._stack.append((tag, float(size[1]) if size else parent_px, hidden))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self.texts.append((" ", None, False))
        if tag == "head":
            self._head = False
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if data and self._stack and self._stack[-1][0] not in ("style", "title"):
            self.texts.append((data, self._stack[-1][1], self._stack[-1][2]))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    @property
    def visible_text(self) -> str:
        return squash("".join(t for t, _, hidden in self.texts if not hidden))

    def tags(self, name: str) -> list[Element]:
        return [e for e in self.elements if e.tag == name]


def parse(html: str) -> Parsed:
    page = Parsed()
    page.feed(html)
    page.close()
    return page


def squash(text: str) -> str:
    """Whitespace-insensitive form, for comparing wrapped text with its source."""
    return " ".join(text.split())
