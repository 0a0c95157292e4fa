"""A briefing by parts: the fields read back through the briefing's own writer, and each
lint finding is filed under the field it concerns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from newsletter.briefing import lint, markdown, parts, writer
from newsletter.briefing.model import Briefing
from newsletter.briefing.plaintext import convert
from tests.briefing.helpers import EXAMPLE, read_paper, without_lines
from tests.conftest import SEED_PAPER


def examples() -> list[tuple[str, Briefing]]:
    found = [("example", markdown.load(EXAMPLE))]
    found.append(("seed paper", convert(Path(SEED_PAPER).read_text(encoding="utf-8"))))
    for name in ("briefing-112.txt", "briefing-113.txt", "briefing-7.txt"):
        found.append((name, convert(read_paper(name))))
    return found


@pytest.mark.parametrize(("name", "briefing"), examples(), ids=[n for n, _ in examples()])
def test_parse_write_parse_is_the_same_briefing(name: str, briefing: Briefing) -> None:
    once = markdown.parse(writer.dump(briefing))
    twice = markdown.parse(writer.dump(once))
    assert without_lines(once) == without_lines(twice) == without_lines(briefing)


@pytest.mark.parametrize(("name", "briefing"), examples(), ids=[n for n, _ in examples()])
def test_the_parts_of_a_briefing_rebuild_its_canonical_text(name: str, briefing: Briefing) -> None:
    source = writer.dump(briefing)
    parsed = markdown.parse(source)
    assert parts.rebuild(parts.parts_of(parsed), parsed) == source


def test_an_edited_part_changes_that_part_only() -> None:
    b = markdown.load(EXAMPLE)
    fields = parts.parts_of(b)
    first = replace(
        fields.sections[0], body=fields.sections[0].body + "\n\n### New\n\nMore *text*."
    )
    edited = replace(
        fields,
        key_decisions="- One\n2. Two\n\n  * Three  ",
        sections=(first, *fields.sections[1:]),
        appeal_heading="",
        appeal_body="",
    )
    after = markdown.parse(parts.rebuild(edited, b))
    assert [p.text for p in after.key_decisions] == ["One", "Two", "Three"]
    assert after.sections[0].subsections[-1].heading == "New"
    assert after.sections[0].subsections[-1].paragraphs[0].text == "More *text*."
    assert without_lines(after).sections[1:] == without_lines(b).sections[1:]
    assert after.appeal is None
    assert without_lines(after).summary == without_lines(b).summary
    assert after.contact == b.contact and after.topics == b.topics


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"number": "0"}, "number", "positive whole number"),
        ({"date": "3 May"}, "date", "YYYY-MM-DD"),
        ({"title": "  "}, "title", "needs a title"),
        ({"appeal_heading": "", "appeal_body": "Give"}, "appeal-heading", "heading"),
    ],
)
def test_a_bad_field_is_named(change: dict[str, Any], field: str, words: str) -> None:
    b = markdown.load(EXAMPLE)
    with pytest.raises(parts.PartError) as caught:
        parts.rebuild(replace(parts.parts_of(b), **change), b)
    assert caught.value.field == field and words in caught.value.message


def test_a_bad_section_text_names_its_own_line() -> None:
    b = markdown.load(EXAMPLE)
    fields = parts.parts_of(b)
    for body, words in (
        ("One.\n\n## 9. Smuggled", "line 3: '#' and '##' headings"),
        ("One.\n\n1. a numbered list", "line 3: numbered lists are not supported"),
        ("One.\n\n<div>raw</div>", "line 3: raw HTML"),
    ):
        second = replace(fields.sections[1], body=body)
        with pytest.raises(parts.PartError) as caught:
            parts.rebuild(replace(fields, sections=(fields.sections[0], second)), b)
        assert caught.value.field == "section-2" and caught.value.message.startswith(words)


def test_each_finding_is_filed_under_its_field() -> None:
    b = markdown.load(EXAMPLE)
    fields = parts.parts_of(b)
    second = replace(fields.sections[1], body=fields.sections[1].body + "\n\nSee [the list](#).")
    edited = replace(
        fields,
        subject="x" * 90,
        key_decisions=fields.key_decisions + "\nSee the [annex](http://example.org/a).",
        sections=(fields.sections[0], second, *fields.sections[2:]),
        appeal_body=fields.appeal_body + "\n\nGive via the [form](#).",
    )
    after = markdown.parse(parts.rebuild(edited, b))
    found = {
        (p.code, parts.field_of(p, after))
        for p in lint.lint(after, for_sending=True, donations=True)
    }
    assert ("long-subject", "subject") in found
    assert ("insecure-link", "key-decisions") in found
    assert ("placeholder-link", "section-2") in found
    assert ("placeholder-link", "appeal") in found
    no_decisions = replace(after, key_decisions=(), appeal=None)
    codes = {
        p.code: parts.field_of(p, no_decisions)
        for p in lint.lint(no_decisions, for_sending=True, donations=True)
    }
    assert codes["missing-key-decisions"] == "key-decisions"
    assert codes["missing-appeal"] == "appeal"


def test_a_key_decision_wrapped_over_lines_stays_one_decision() -> None:
    b = markdown.parse(
        "---\nnumber: 3\ndate: 2024-05-01\ntitle: T\n---\n\n## Key decisions {.key-decisions}\n\n"
        "- First, wrapped\n  over two lines.\n- Second.\n"
    )
    fields = parts.parts_of(b)
    assert fields.key_decisions == "First, wrapped over two lines.\nSecond."
    after = markdown.parse(parts.rebuild(fields, b))
    assert [p.text for p in after.key_decisions] == ["First, wrapped over two lines.", "Second."]


def test_section_topics_read_back_from_the_form_and_are_kept_when_not_shown() -> None:
    b = markdown.load(EXAMPLE)
    b = replace(b, sections=(replace(b.sections[0], topics=("Ukraine", "trade")), *b.sections[1:]))
    source = writer.dump(b)
    parsed = markdown.parse(source)
    fields = parts.parts_of(parsed)
    assert fields.sections[0].topics == ("Ukraine", "trade")
    assert parts.rebuild(fields, parsed) == source  # the Topics: line is written back
    form: dict[str, Any] = {"section-1-heading": b.sections[0].title}
    assert parts.from_form(form, parsed).sections[0].topics == ("Ukraine", "trade")
    form["section-1-topics-shown"] = "1"  # the group was shown and nothing ticked
    assert parts.from_form(form, parsed).sections[0].topics == ()
    form["section-1-topics"] = ["Climate", "TRADE", " Ukraine "]
    # The section's own topics keep their order and spelling; new ones follow.
    assert parts.from_form(form, parsed).sections[0].topics == ("Ukraine", "trade", "Climate")
    comma = (replace(fields.sections[0], topics=("Peace, security",)), *fields.sections[1:])
    with pytest.raises(parts.PartError, match="has a comma") as refused:
        parts.rebuild(replace(fields, sections=comma), parsed)
    assert refused.value.field == "section-1-topics"


def test_topic_choices_offer_the_organisations_topics_and_keep_unknown_ones_ticked() -> None:
    choices = parts.topic_choices(("ukraine", "Ukrane"), ["Climate", "Ukraine"])
    assert choices == [("Climate", False), ("ukraine", True), ("Ukrane", True)]
