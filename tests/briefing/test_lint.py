"""What the linter reports, and how severe it is for a preview or a send."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from newsletter.briefing.lint import Problem, lint
from newsletter.briefing.markdown import load, parse
from newsletter.briefing.model import Briefing, Paragraph, Section
from tests.briefing.helpers import EXAMPLE

GOOD = """---
number: 4
date: 2024-03-01
title: A short title
---

## Key decisions {.key-decisions}

- Something was [decided](https://example.org/decision).

## Summary {.summary}

Write to [us](mailto:office@example.org).

## 1. First

{body}
"""
BODY_LINE = GOOD.split("\n").index("{body}") + 1


def problems(body: str = "Plain text.", *, for_sending: bool = False) -> list[Problem]:
    return lint(parse(GOOD.replace("{body}", body), "b.md"), for_sending=for_sending)


def codes(found: list[Problem]) -> list[tuple[str, str, int]]:
    return [(p.code, p.severity, p.line) for p in found]


def test_a_clean_briefing_has_no_problems() -> None:
    assert problems() == []
    assert problems(for_sending=True) == []


def test_placeholder_links_are_warnings_for_previews_and_errors_for_sending() -> None:
    body = "See [this](#) and [that]() here."
    assert codes(problems(body)) == [("placeholder-link", "warning", BODY_LINE)] * 2
    found = problems(body, for_sending=True)
    assert codes(found) == [("placeholder-link", "error", BODY_LINE)] * 2
    assert "'this'" in found[0].message and "'that'" in found[1].message


def test_every_placeholder_of_the_example_is_reported() -> None:
    b = load(EXAMPLE)
    found = lint(b, for_sending=True)
    placeholders = [p for p in found if p.code == "placeholder-link"]
    assert len(placeholders) == len(b.links) > 20
    assert all(p.severity == "error" for p in placeholders)
    lines = EXAMPLE.read_text(encoding="utf-8").split("\n")
    for p in placeholders:
        assert "](#)" in lines[p.line - 1]


def test_link_schemes() -> None:
    body = (
        "A [plain](http://example.org/x), a [script](javascript:alert(1)), "
        "a [page](/donate) and [mail](mailto:a@example.org)."
    )
    found = {p.code: p.severity for p in problems(body, for_sending=True)}
    assert found == {"insecure-link": "warning", "unsafe-link": "error", "relative-link": "warning"}


def test_images_need_alt_text() -> None:
    found = problems("![](https://example.org/a.png) ![A chart](https://example.org/b.png)")
    assert codes(found) == [("image-alt", "error", BODY_LINE)]


def test_missing_key_decisions_is_an_error() -> None:
    text = GOOD.replace("- Something was [decided](https://example.org/decision).\n", "")
    found = lint(parse(text.replace("{body}", "x")), for_sending=False)
    assert codes(found) == [("missing-key-decisions", "error", 1)]


def test_missing_title_and_number_are_errors() -> None:
    b = Briefing(number=0, date=date(2024, 1, 1), title=" ", key_decisions=(Paragraph("x"),))
    assert {p.code for p in lint(b, for_sending=False)} == {"missing-title", "missing-number"}


def test_long_subject_is_a_warning() -> None:
    b = parse(GOOD.replace("{body}", "x"))
    long = replace(b, title="Foreign Ministers renew pledges " * 4)
    found = lint(long, for_sending=True)
    assert codes(found) == [("long-subject", "warning", 1)]
    assert str(len(long.subject)) in found[0].message
    example = load(EXAMPLE)
    assert any(p.code == "long-subject" for p in lint(example, for_sending=False))


def test_digest_size_limit() -> None:
    b = parse(GOOD.replace("{body}", "x"))
    assert lint(b, for_sending=True, digest_html_bytes=100_000) == []
    found = lint(b, for_sending=True, digest_html_bytes=100_001)
    assert codes(found) == [("digest-too-large", "error", 1)]
    assert "100,001" in found[0].message


def test_problems_come_in_line_order() -> None:
    b = Briefing(
        number=1,
        date=date(2024, 1, 1),
        title="T",
        key_decisions=(Paragraph("[a](#)", 9, True),),
        sections=(Section(1, "S", (Paragraph("[b](http://x.org)", 30), Paragraph("[c]()", 20))),),
    )
    assert [p.line for p in lint(b, for_sending=False)] == [9, 20, 30]


def test_subject_key_and_its_limit() -> None:
    b = parse(GOOD.replace("title: A short title", "title: A short title\nsubject: " + "w" * 71))
    assert b.subject == "w" * 71
    assert codes(lint(b, for_sending=True)) == [("long-subject", "warning", 1)]
    assert parse(GOOD.replace("{body}", "x")).subject == "A short title"


def test_no_appeal_while_donations_are_on() -> None:
    b = parse(GOOD.replace("{body}", "x"))
    assert lint(b, for_sending=True) == []
    assert codes(lint(b, for_sending=True, donations=True)) == [("missing-appeal", "error", 1)]
    assert codes(lint(b, for_sending=False, donations=True)) == [("missing-appeal", "warning", 1)]
    with_appeal = GOOD.replace("{body}", "x\n\n## Donate today {.appeal}\n\nPlease give.")
    assert lint(parse(with_appeal), for_sending=True, donations=True) == []


def test_empty_contact_fields_are_errors_for_sending() -> None:
    text = GOOD.replace(
        "title: A short title", "title: T\ncontact:\n  name: Jane Smith\n  email: ''"
    )
    found = lint(parse(text.replace("{body}", "x")), for_sending=True)
    assert codes(found) == [("empty-contact", "error", 1)] * 2
    assert "email" in found[0].message and "website" in found[1].message


def test_phrases_pointing_at_what_the_email_lacks() -> None:
    found = problems("Click on the picture below to give. See the chart above.")
    assert codes(found) == [("absent-thing", "warning", BODY_LINE)] * 2
    example = [p for p in lint(load(EXAMPLE), for_sending=False) if p.code == "absent-thing"]
    assert example and "Click on the picture" in example[0].message
