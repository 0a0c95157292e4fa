"""Inline Markdown (what briefing paragraphs hold) -> safe HTML, or plain text with references.

One tokeniser (markdown-it, raw HTML switched off) feeds both renderers, and the HTML is
sanitised again with nh3, so a briefing can only ever produce links, emphasis, code and
line breaks: never script, style, attributes or comments. Paragraphs are first turned
into :class:`Run` s so a lead can be cut on a sentence boundary without breaking markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset({"a", "strong", "em", "b", "i", "code", "br"})
_SCHEMES = ("http://", "https://", "mailto:")
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
# Sentence ends: punctuation, optional closing quotes/brackets, then a space.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_ABBREVIATION = re.compile(r"(?:\b[A-Z]|\b(?:Dr|Mr|Mrs|Ms|Prof|St|No|Nos|vs|etc|e\.g|i\.e|cf))\.$")


@dataclass(frozen=True)
class Run:
    """A stretch of text with one formatting; ``link`` groups the runs of one link."""

    text: str
    strong: bool = False
    em: bool = False
    code: bool = False
    href: str | None = None
    link: int = -1
    br: bool = False


def safe_href(url: str | None, *, fragments: bool) -> str | None:
    """The URL if a reader may follow it: http(s), mailto, or (web page only) ``#anchor``.

    Placeholders (``#``, empty) and every other scheme become ``None``: plain text.
    """
    if not url:
        return None
    url = url.strip()
    lowered = url.lower()
    if lowered.startswith(_SCHEMES):
        return url
    if fragments and url.startswith("#") and len(url) > 1:
        return url
    return None


@lru_cache(maxsize=4096)
def parse(source: str) -> tuple[Run, ...]:
    """Tokenise one paragraph of inline Markdown into runs (raw HTML stays literal text)."""
    tokens = _MD.parseInline(source)
    children = (tokens[0].children or []) if tokens else []
    runs: list[Run] = []
    strong = em = 0
    href: str | None = None
    link = -1
    links = 0
    for tok in children:
        kind = tok.type
        if kind in ("text", "code_inline", "html_inline"):
            if tok.content:
                runs.append(Run(tok.content, strong > 0, em > 0, kind == "code_inline", href, link))
        elif kind == "softbreak":
            runs.append(Run(" ", strong > 0, em > 0, False, href, link))
        elif kind == "hardbreak":
            runs.append(Run("\n", br=True))
        elif kind == "image":
            if tok.content:
                runs.append(Run(tok.content, strong > 0, em > 0, False, href, link))
        elif kind == "strong_open":
            strong += 1
        elif kind == "strong_close":
            strong -= 1
        elif kind == "em_open":
            em += 1
        elif kind == "em_close":
            em -= 1
        elif kind == "link_open":
            target = tok.attrGet("href")
            href = target if isinstance(target, str) else ""
            link = links
            links += 1
        elif kind == "link_close":
            href, link = None, -1
    return tuple(runs)


def plain(runs: Iterable[Run]) -> str:
    return "".join(r.text for r in runs)


def sentence_ends(text: str, stop: int | None = None) -> list[int]:
    """Offsets just after each sentence end of ``text`` (up to ``stop``): not after an
    abbreviation ("Dr.", "No.") nor inside an open quotation."""
    out = []
    for match in _SENTENCE_END.finditer(text, 0, len(text) if stop is None else stop):
        head = text[: match.end()]
        if not _ABBREVIATION.search(head) and _quotes_closed(head):
            out.append(match.end())
    return out


def lead(runs: Sequence[Run], limit: int = 300, minimum: int = 0) -> tuple[Run, ...]:
    """The opening of a paragraph, at most ``limit`` characters, cut between sentences.

    Whole sentences are kept while they fit; when they come to less than ``minimum``
    (a short first sentence, then a long one), or one first sentence is longer than
    ``limit``, the text is cut at the last word boundary and ends with an ellipsis.
    """
    text = plain(runs)
    if len(text) <= limit:
        return tuple(runs)
    ends = sentence_ends(text, limit + 1)
    cut = ends[-1] if ends else 0
    ellipsis = False
    if cut == 0 or cut < minimum:
        space = text.rfind(" ", 0, limit)
        cut = space if space > 0 else limit
        ellipsis = True
    out = list(take(runs, 0, cut))
    if out:
        last = out[-1]
        out[-1] = replace(last, text=last.text.rstrip(" ,;:–—-"))
    if ellipsis:
        out.append(Run("…"))
    return tuple(out)


def take(runs: Sequence[Run], start: int, end: int | None = None) -> tuple[Run, ...]:
    """The runs between two offsets of their plain text, formatting and links kept."""
    out: list[Run] = []
    seen = 0
    for run in runs:
        begin, finish = seen, seen + len(run.text)
        seen = finish
        if finish <= start or (end is not None and begin >= end):
            continue
        lo = max(start - begin, 0)
        hi = len(run.text) if end is None else min(end - begin, len(run.text))
        out.append(run if (lo, hi) == (0, len(run.text)) else replace(run, text=run.text[lo:hi]))
    return tuple(out)


def _quotes_closed(text: str) -> bool:
    """No quotation left open, so a lead never ends inside someone's words."""
    return text.count("“") <= text.count("”") and text.count('"') % 2 == 0


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "a" and attr == "href":
        return value if safe_href(value, fragments=True) else None
    return value


@lru_cache(maxsize=4096)  # pure; every order of a personalised email cleans the same items
def sanitise(fragment: str) -> Markup:
    """nh3 with the digest's allow-list: the last word on what HTML a briefing can carry."""
    cleaned = nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={"a": {"href"}},
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
        link_rel="noopener noreferrer",
    )
    return Markup(cleaned)  # noqa: S704 -- sanitised by nh3 just above


def to_html(runs: Sequence[Run], *, fragments: bool = False) -> Markup:
    """Runs -> sanitised HTML; links that go nowhere (placeholders) become plain text."""
    parts: list[str] = []
    open_link = -1
    for run in runs:
        if run.link != open_link:
            if open_link != -1:
                parts.append("</a>")
                open_link = -1
            target = safe_href(run.href, fragments=fragments)
            if target is not None:
                parts.append(f'<a href="{html.escape(target, quote=True)}">')
                open_link = run.link
        if run.br:
            parts.append("<br>")
            continue
        piece = html.escape(run.text, quote=False)
        if run.code:
            piece = f"<code>{piece}</code>"
        if run.em:
            piece = f"<em>{piece}</em>"
        if run.strong:
            piece = f"<strong>{piece}</strong>"
        parts.append(piece)
    if open_link != -1:
        parts.append("</a>")
    return sanitise("".join(parts))


def markdown_html(source: str, *, fragments: bool = False) -> Markup:
    return to_html(parse(source), fragments=fragments)


@dataclass(frozen=True)
class Reference:
    number: int
    label: str
    url: str


class References:
    """Numbered link references for the plain-text part, one number per distinct URL.

    Numbers run through the whole message; each block (a section, the key decisions)
    lists every reference it cites, including ones numbered in an earlier block.
    """

    def __init__(self) -> None:
        self._known: dict[str, Reference] = {}
        self._block: dict[str, Reference] = {}

    def number(self, url: str, label: str) -> int:
        ref = self._known.get(url)
        if ref is None:
            ref = self._known[url] = Reference(len(self._known) + 1, label, url)
        self._block.setdefault(url, ref)
        return ref.number

    def take_block(self) -> tuple[Reference, ...]:
        """The references cited since the last call, and start a new block."""
        block = tuple(self._block.values())
        self._block = {}
        return block


def to_text(runs: Sequence[Run], refs: References) -> str:
    """Runs -> plain text; each followable link gets `` [n]`` after its text."""
    parts: list[str] = []
    count = len(runs)
    for i, run in enumerate(runs):
        parts.append(run.text)
        last_of_link = run.link != -1 and (i + 1 == count or runs[i + 1].link != run.link)
        if last_of_link:
            target = safe_href(run.href, fragments=False)
            if target is not None:
                label = plain(r for r in runs if r.link == run.link).strip()
                parts.append(f" [{refs.number(target, label)}]")
    return "".join(parts)
