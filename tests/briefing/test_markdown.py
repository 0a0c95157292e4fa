"""The Markdown briefing format: reading the example, round trips, and clear errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.briefing.markdown import load, parse
from newsletter.briefing.model import Appeal, Briefing, Contact, Paragraph, Section, Subsection
from newsletter.briefing.plaintext import convert
from newsletter.briefing.writer import dump, escape_block_start
from newsletter.errors import BriefingError
from tests.briefing.helpers import EXAMPLE, SEED, read_paper, without_lines

FRONT = """---
number: 9
date: 2024-01-31
title: A test briefing
---
"""


def test_example_is_the_import_of_the_seed_paper() -> None:
    example = load(EXAMPLE)
    assert example.source == str(EXAMPLE)
    assert without_lines(example) == without_lines(convert(SEED.read_text(encoding="utf-8")))
    assert EXAMPLE.read_text(encoding="utf-8") == dump(example)


def test_example_line_numbers_point_into_the_file() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").split("\n")
    b = load(EXAMPLE)
    for section in b.sections:
        assert lines[section.line - 1] == f"## {section.number}. {section.title}"
        for sub in section.subsections:
            assert lines[sub.line - 1] == f"### {sub.heading}"
    for p in b.paragraphs():
        assert p.line > 0
        assert p.text.split("\n")[0] in lines[p.line - 1]
    assert b.appeal is not None and lines[b.appeal.line - 1].startswith("## DONATE NOW PLEASE")


@pytest.mark.parametrize("name", ["briefing-112.txt", "briefing-113.txt", "briefing-7.txt"])
def test_imported_papers_round_trip(name: str) -> None:
    b = convert(read_paper(name))
    assert without_lines(parse(dump(b))) == without_lines(b)


def test_unmarked_headings_are_understood_by_position() -> None:
    b = parse(
        FRONT
        + "\n## What was decided\n\n- One thing.\n- Another.\n\n## In short\n\nA summary.\n"
        + "\n## 1. First\n\nText with **bold**\nover two lines.\n\n### Detail\n\nMore.\n"
        + "\n## 2. Second\n\n- a list item\n\n## Please donate\n\nThank you.\n"
    )
    assert b.key_decisions_heading == "What was decided"
    assert [p.text for p in b.key_decisions] == ["One thing.", "Another."]
    assert b.summary_heading == "In short"
    assert b.sections[0].paragraphs[0].text == "Text with **bold**\nover two lines."
    assert b.sections[0].subsections[0] == Subsection("Detail", (Paragraph("More.", 23),), 21)
    assert b.sections[1].paragraphs == (Paragraph("a list item", 27, bullet=True),)
    assert b.appeal == Appeal("Please donate", (Paragraph("Thank you.", 31),), 29)


def test_crlf_and_bom_are_accepted() -> None:
    text = "\ufeff" + (FRONT + "\n## 1. One\n\nText.\n").replace("\n", "\r\n")
    b = parse(text)
    assert b.sections[0].paragraphs[0].text == "Text."


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("# Title\n\nhello\n", 1, "missing front matter"),
        ("---\nnumber: 1\n\n## 1. A\n", 1, "never closed"),
        (FRONT.replace("number: 9\n", ""), 1, "missing 'number'"),
        (FRONT.replace("number: 9", "number: nine"), 2, "positive whole number"),
        (FRONT.replace("2024-01-31", "31 January 2024"), 3, "YYYY-MM-DD"),
        (FRONT.replace("2024-01-31", "2024-13-45"), 3, "not a real day"),
        (FRONT.replace("date: 2024-01-31\n", ""), 1, "missing 'date'"),
        (FRONT.replace("title: A test briefing", "title: ''"), 4, "missing 'title'"),
        (FRONT.replace("title: A test briefing", "tilte: oops"), 4, "unknown front matter key"),
        (FRONT.replace("title: A test briefing", "title: [unclosed"), 5, "not valid YAML"),
        (FRONT + "\nIntro text.\n", 7, "before the first"),
        (FRONT + "\n# Big\n", 7, "front matter"),
        (FRONT + "\n### Orphan\n", 7, "inside a numbered"),
        (FRONT + "\n## 2. B\n\n## 1. A\n", 9, "numbers must increase"),
        (FRONT + "\n## 1. A\n\n## Loose heading\n", 9, "unnumbered"),
        (FRONT + "\n## 1. A {.oops}\n", 7, "unknown marker"),
        (FRONT + "\n## 1. A\n\n> quoted\n", 9, "block quotes"),
        (FRONT + "\n## 1. A\n\n1. first\n", 9, "numbered lists"),
        (FRONT + "\n## 1. A\n\n<div>x</div>\n", 9, "HTML"),
        (FRONT + "\n## Keys {.key-decisions}\n\nNot a list.\n", 9, "bullet list"),
        (FRONT + "\n## Give {.appeal}\n\n## 1. A\n", 9, "last"),
    ],
)
def test_malformed_briefings_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(BriefingError) as caught:
        parse(text, source="draft.md")
    assert caught.value.path == "draft.md"
    assert caught.value.line == line
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"draft.md:{line}: ")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BriefingError, match="no such file"):
        load(tmp_path / "absent.md")
    with pytest.raises(BriefingError, match="directory"):
        load(tmp_path)
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes((FRONT + "\n## 1. Priština\n").encode("latin-1", "replace") + b"\xe9\xff")
    with pytest.raises(BriefingError, match="UTF-8"):
        load(latin1)


def test_dump_escapes_text_that_would_become_markup() -> None:
    b = Briefing(
        number=3,
        date=date(2024, 1, 1),
        title="T",
        sections=(
            Section(
                1,
                "Costs # rose",
                (Paragraph("2023. A bad year"), Paragraph("- not a bullet"), Paragraph("# no")),
            ),
        ),
    )
    back = parse(dump(b))
    assert back.sections[0].title == "Costs # rose"
    assert [p.bullet for p in back.sections[0].paragraphs] == [False, False, False]
    assert [p.text for p in back.sections[0].paragraphs] == [
        "2023\\. A bad year",
        "\\- not a bullet",
        "\\# no",
    ]


# -- round trip over generated briefings ------------------------------------------------

WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éüšŠ€$%&',.;:!?()/-’“”",
    min_size=1,
    max_size=10,
)
LINKED = st.builds(
    lambda t, u: f"[{t}]({u})", WORD, st.sampled_from(["#", "", "https://a.example/x"])
)
BOLD = st.builds(lambda t: f"**{t}**", st.text(alphabet="abcXYZ", min_size=1, max_size=6))
# Canonical inline text, as the importer and dump write it (block starts escaped).
INLINE = (
    st.lists(st.one_of(WORD, WORD, WORD, LINKED, BOLD), min_size=1, max_size=8)
    .map(" ".join)
    .map(escape_block_start)
)
HEADING = st.lists(
    st.text(alphabet="aAzZéü’“”,'-", max_size=8).map(lambda w: w + "x"), min_size=1, max_size=5
).map(lambda words: "A" + " ".join(words))
PLAIN_TEXT = st.lists(st.text(alphabet="abZ09,.:'’é-", min_size=1, max_size=8), max_size=5).map(
    lambda words: ("T " + " ".join(words)).strip()
)


SECTION_TOPICS = ["Ukraine", "Arms control", "Sécurité"]


def paragraphs(bullets: bool | None = None) -> st.SearchStrategy[tuple[Paragraph, ...]]:
    bullet = st.booleans() if bullets is None else st.just(bullets)
    one = st.builds(lambda t, b: Paragraph(t, bullet=b), INLINE, bullet)
    return st.lists(one, max_size=3).map(tuple)


def _sections(draw: st.DrawFn) -> tuple[Section, ...]:
    numbers = sorted(draw(st.sets(st.integers(1, 40), max_size=3)))
    return tuple(
        Section(
            n,
            draw(HEADING),
            draw(paragraphs()),
            tuple(Subsection(h, draw(paragraphs())) for h in draw(st.lists(HEADING, max_size=2))),
            topics=tuple(draw(st.lists(st.sampled_from(SECTION_TOPICS), max_size=2, unique=True))),
        )
        for n in numbers
    )


@st.composite
def briefings(draw: st.DrawFn) -> Briefing:
    return Briefing(
        number=draw(st.integers(1, 100_000)),
        date=draw(st.dates(date(1990, 1, 1), date(2100, 1, 1))),
        title=draw(PLAIN_TEXT),
        subtitle=draw(st.lists(PLAIN_TEXT, max_size=2).map("\n".join)),
        contact=Contact(draw(PLAIN_TEXT), draw(st.sampled_from(["", "a@b.org"])), ""),
        topics=tuple(draw(st.lists(st.sampled_from(["nato", "gaza", "arms"]), max_size=3))),
        language=draw(st.sampled_from(["en", "fr", "pt-BR"])),
        key_decisions_heading=draw(HEADING),
        key_decisions=draw(paragraphs(bullets=True)),
        summary_heading=draw(HEADING),
        summary=draw(paragraphs()),
        sections=_sections(draw),
        appeal=draw(st.none() | st.builds(Appeal, HEADING, paragraphs(bullets=False))),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(briefings())
def test_parse_of_dump_gives_back_the_briefing(b: Briefing) -> None:
    assert without_lines(parse(dump(b))) == b
