"""What the templates see: a briefing already turned into safe HTML and plain text.

Templates only lay things out; every decision about content (which paragraph is the
lead, how long it may be, which links count as cited, how references are numbered)
is made here, in plain Python that tests can reach.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from urllib.parse import urlsplit

from markupsafe import Markup

from newsletter.briefing import topics
from newsletter.briefing.model import Appeal, Briefing, Paragraph, Section
from newsletter.digest import inline
from newsletter.digest.inline import Reference, References

LEAD_CHARS = 300
LEAD_MIN = 150  # a lead shorter than this says too little to choose the section by
PITCH_CHARS = 200
REPEAT_SHARE = 0.55  # share of a key decision's words a lead sentence must not repeat
MAX_CITED = 6
PREVIEW_CHARS = 110


@dataclass(frozen=True)
class CitedLink:
    label: str
    url: str
    host: str


@dataclass(frozen=True)
class Item:
    """One paragraph or bullet, ready for both parts."""

    html: Markup
    text: str


@dataclass(frozen=True)
class SectionDigest:
    number: int
    heading: str
    anchor: str
    lead: Item
    links: tuple[CitedLink, ...]
    more_links: int
    refs: tuple[Reference, ...]
    subheadings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    """A paragraph (one item) or a bulleted list (``bullets``) on the web page."""

    bullets: bool
    items: tuple[Markup, ...]


@dataclass(frozen=True)
class SubsectionPage:
    heading: str
    anchor: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class SectionPage:
    heading: str
    anchor: str
    blocks: tuple[Block, ...]
    subsections: tuple[SubsectionPage, ...]


@dataclass(frozen=True)
class EmailView:
    """Context of ``digest.mjml.j2`` and ``digest.txt.j2``."""

    subject: str
    preview: str
    language: str
    number: int
    label: str
    date: str
    title: str
    subtitle: str
    key_decisions_heading: str
    key_decisions: tuple[Item, ...]
    key_decision_refs: tuple[Reference, ...]
    pitch: Item | None
    sections: tuple[SectionDigest, ...]  # in this copy's order
    appeal_heading: str
    appeal: tuple[Item, ...]
    appeal_refs: tuple[Reference, ...]
    # How many of ``sections`` are the reader's topics, put first under "Your topics";
    # 0: the paper's own order, no markers.
    yours: int = 0


@dataclass(frozen=True)
class PageView:
    """Context of ``web/briefing.html``: the whole briefing."""

    subject: str
    language: str
    number: int
    date: str
    title: str
    subtitle: str
    contact_name: str
    contact_email: str
    key_decisions_heading: str
    key_decisions: tuple[Block, ...]
    summary_heading: str
    summary: tuple[Block, ...]
    sections: tuple[SectionPage, ...]
    appeal_heading: str
    appeal: tuple[Block, ...]


def heading(source: str) -> str:
    """A title or heading as plain words: inline Markdown, escapes and entities resolved."""
    return "\n".join(
        " ".join(inline.plain(inline.parse(line)).split()) for line in source.strip().splitlines()
    )


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


_WORD = re.compile(r"[a-z0-9][a-z0-9-]{3,}")


def _words(text: str) -> frozenset[str]:
    """The content words of a text (four letters or more), for comparing sentences."""
    return frozenset(w.removesuffix("’s").removesuffix("'s") for w in _WORD.findall(text.lower()))


def _repeats(sentence: str, decisions: Sequence[frozenset[str]]) -> bool:
    """Does this sentence say again what a key decision already said?"""
    words = _words(sentence)
    return any(
        words and d and len(words & d) >= REPEAT_SHARE * min(len(words), len(d)) for d in decisions
    )


@lru_cache(maxsize=256)  # the same in every order of the sections
def _lead_runs(section: Section, decisions: tuple[frozenset[str], ...]) -> tuple[inline.Run, ...]:
    """A section's opening of at least ``LEAD_MIN`` characters where the text allows:
    running on into the next paragraphs, after any opening sentence that only repeats
    a key decision, cut between sentences (or at a word, with an ellipsis)."""
    paragraphs = [p for p in section.all_paragraphs if not p.bullet and p.text.strip()]
    runs: list[inline.Run] = []
    for paragraph in paragraphs or section.all_paragraphs[:1]:
        base = max((r.link for r in runs), default=-1) + 1
        if runs:
            runs.append(inline.Run(" "))
        runs.extend(
            replace(r, link=r.link + base) if r.link != -1 else r
            for r in inline.parse(paragraph.text)
        )
        if len(inline.plain(runs)) > LEAD_CHARS:
            break
    text = inline.plain(runs)
    start = 0
    for end in [*inline.sentence_ends(text), len(text)]:
        if not _repeats(text[start:end], decisions):
            break
        start = end
    if 0 < start < len(text):
        rest = list(inline.take(runs, start))
        rest[0] = replace(rest[0], text=rest[0].text.lstrip())
        runs = rest
    return inline.lead(runs, LEAD_CHARS, LEAD_MIN)


def _cited(section: Section) -> list[CitedLink]:
    seen: set[str] = set()
    out: list[CitedLink] = []
    for paragraph in section.all_paragraphs:
        for run_link in _links(paragraph.text):
            if run_link.url not in seen:
                seen.add(run_link.url)
                out.append(run_link)
    return out


def _links(source: str) -> list[CitedLink]:
    """Followable links of one paragraph, by markdown-it (the same parser as rendering)."""
    runs = inline.parse(source)
    out: list[CitedLink] = []
    for number in sorted({r.link for r in runs if r.link != -1}):
        members = [r for r in runs if r.link == number]
        url = inline.safe_href(members[0].href, fragments=False)
        if url is not None:
            label = " ".join(inline.plain(members).split()) or url
            out.append(CitedLink(label, url, urlsplit(url).hostname or url))
    return out


def _item(runs: Sequence[inline.Run], refs: References) -> Item:
    return Item(inline.to_html(runs), inline.to_text(runs, refs))


def _section_digest(
    section: Section, refs: References, decisions: tuple[frozenset[str], ...]
) -> SectionDigest:
    refs.take_block()
    runs = _lead_runs(section, decisions)
    lead = _item(runs, refs)
    # The list shows what the lead does not already link to; the text part numbers all.
    in_lead = {inline.safe_href(r.href, fragments=False) for r in runs if r.link != -1}
    cited = [link for link in _cited(section) if link.url not in in_lead]
    shown = cited[:MAX_CITED]
    for link in shown:
        refs.number(link.url, link.label)
    return SectionDigest(
        number=section.number,
        heading=f"{section.number}. {heading(section.title)}",
        anchor=section.anchor,
        lead=lead,
        links=tuple(shown),
        more_links=len(cited) - len(shown),
        refs=refs.take_block(),
        subheadings=tuple(heading(sub.heading) for sub in section.subsections),
    )


def _preview(briefing: Briefing) -> str:
    """A short inbox preview line: the first key decision, else the subtitle."""
    source = briefing.key_decisions[0].text if briefing.key_decisions else briefing.subtitle
    return " ".join(inline.plain(inline.lead(inline.parse(source), PREVIEW_CHARS)).split())


def email_view(briefing: Briefing, first: Sequence[int] = ()) -> EmailView:
    """The email's content; ``first``: indices of the sections to put first (the
    reader's topics), the others following in the paper's order."""
    refs = References()
    key = tuple(_item(inline.parse(p.text), refs) for p in briefing.key_decisions)
    key_refs = refs.take_block()
    pitch: Item | None = None
    appeal: Appeal | None = briefing.appeal
    rest: list[tuple[inline.Run, ...]] = [
        inline.parse(p.text) for p in (appeal.paragraphs if appeal else ())
    ]
    if rest:
        pitch_runs = inline.lead(rest[0], PITCH_CHARS)
        pitch = Item(inline.to_html(pitch_runs), inline.plain(pitch_runs))
        # The appeal at the end goes on where the pitch stopped: nothing is said twice.
        shown = len(inline.plain(pitch_runs).removesuffix("…").rstrip())
        if pitch_runs and pitch_runs[-1].text == "…":
            shown = len(inline.plain(pitch_runs[:-1]).rstrip())
        remainder = list(inline.take(rest[0], shown))
        if remainder:
            remainder[0] = replace(remainder[0], text=remainder[0].text.lstrip())
        rest[0] = tuple(r for r in remainder if r.text or r.br)
        if pitch_runs and pitch_runs[-1].text == "…" and rest[0]:
            rest[0] = (inline.Run("…"), *rest[0])
    decisions = tuple(_words(inline.plain(inline.parse(p.text))) for p in briefing.key_decisions)
    # Sources are numbered in reading order, so a reordered copy's [1] still comes first.
    in_order = [briefing.sections[i] for i in topics.order(len(briefing.sections), first)]
    sections = tuple(_section_digest(s, refs, decisions) for s in in_order)
    refs.take_block()
    appeal_items = tuple(_item(runs, refs) for runs in rest if inline.plain(runs).strip())
    return EmailView(
        subject=" ".join(heading(briefing.subject).split()),
        preview=_preview(briefing),
        language=briefing.language or "en",
        number=briefing.number,
        label=briefing.label,
        date=long_date(briefing.date),
        title=heading(briefing.title),
        subtitle=heading(briefing.subtitle),
        key_decisions_heading=heading(briefing.key_decisions_heading),
        key_decisions=key,
        key_decision_refs=key_refs,
        pitch=pitch,
        sections=sections,
        appeal_heading=heading(appeal.heading) if appeal else "",
        appeal=appeal_items,
        appeal_refs=refs.take_block(),
        yours=len(first),
    )


def _blocks(paragraphs: Sequence[Paragraph]) -> tuple[Block, ...]:
    """Paragraphs as page blocks, consecutive bullets gathered into one list."""
    blocks: list[Block] = []
    for paragraph in paragraphs:
        html = inline.markdown_html(paragraph.text, fragments=True)
        if paragraph.bullet and blocks and blocks[-1].bullets:
            blocks[-1] = Block(True, (*blocks[-1].items, html))
        else:
            blocks.append(Block(paragraph.bullet, (html,)))
    return tuple(blocks)


def _subsection_anchors(briefing: Briefing) -> dict[tuple[int, int], str]:
    """``Subsection.anchor``, with ``-2``, ``-3``... when two sub-headings share a name."""
    used = {s.anchor for s in briefing.sections}
    out: dict[tuple[int, int], str] = {}
    for i, section in enumerate(briefing.sections):
        for j, sub in enumerate(section.subsections):
            anchor, n = sub.anchor, 1
            while anchor in used:
                n += 1
                anchor = f"{sub.anchor}-{n}"
            used.add(anchor)
            out[i, j] = anchor
    return out


def page_view(briefing: Briefing) -> PageView:
    appeal = briefing.appeal
    anchors = _subsection_anchors(briefing)
    return PageView(
        subject=" ".join(heading(briefing.subject).split()),
        language=briefing.language or "en",
        number=briefing.number,
        date=long_date(briefing.date),
        title=heading(briefing.title),
        subtitle=heading(briefing.subtitle),
        contact_name=briefing.contact.name,
        contact_email=briefing.contact.email,
        key_decisions_heading=heading(briefing.key_decisions_heading),
        # Key decisions are a list even when the source wrote them as paragraphs.
        key_decisions=(
            Block(
                True,
                tuple(inline.markdown_html(p.text, fragments=True) for p in briefing.key_decisions),
            ),
        )
        if briefing.key_decisions
        else (),
        summary_heading=heading(briefing.summary_heading),
        summary=_blocks(briefing.summary),
        sections=tuple(
            SectionPage(
                heading=f"{s.number}. {heading(s.title)}",
                anchor=s.anchor,
                blocks=_blocks(s.paragraphs),
                subsections=tuple(
                    SubsectionPage(heading(sub.heading), anchors[i, j], _blocks(sub.paragraphs))
                    for j, sub in enumerate(s.subsections)
                ),
            )
            for i, s in enumerate(briefing.sections)
        ),
        appeal_heading=heading(appeal.heading) if appeal else "",
        appeal=_blocks(appeal.paragraphs) if appeal else (),
    )
