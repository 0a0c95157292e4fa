"""Section topics: the ``Topics:`` line, guessing them from the organisation's topic
names, the linter's check, and a copy rendered for a reader's topics."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from newsletter.briefing import topics
from newsletter.briefing.lint import lint
from newsletter.briefing.markdown import load, parse
from newsletter.briefing.model import Briefing, Paragraph, Section, Subsection
from newsletter.briefing.writer import dump
from newsletter.config import Settings
from newsletter.digest import render_digest
from tests.briefing.helpers import EXAMPLE

HEAD = "---\nnumber: 1\ndate: 2024-01-02\ntitle: T\n---\n\n## Key {.key-decisions}\n\n- a\n\n"


def test_a_topics_line_under_a_section_heading_names_its_topics() -> None:
    b = parse(
        HEAD
        + "## 1. Ukraine\n\nTopics: Ukraine,  Arms control , ukraine\n\nText.\n\n"
        + "## 2. Other\n\nText first.\n\nTopics: not a topics line here\n"
    )
    one, two = b.sections
    assert one.topics == ("Ukraine", "Arms control")  # the same name twice is kept once
    assert one.topics_line == 13
    assert [p.text for p in one.paragraphs] == ["Text."]
    assert two.topics == ()  # only the first block under the heading
    assert [p.text for p in two.paragraphs][-1] == "Topics: not a topics line here"


def test_dump_writes_the_topics_line_and_reads_it_back() -> None:
    b = load(EXAMPLE)
    tagged = replace(
        b, sections=(replace(b.sections[0], topics=("Middle East", "Sécurité")), *b.sections[1:])
    )
    text = dump(tagged)
    assert "## 1. The Israel-Hamas war\n\nTopics: Middle East, Sécurité\n\nSpeaking" in text
    assert parse(text).sections[0].topics == ("Middle East", "Sécurité")
    assert dump(parse(text)) == text


def test_a_paper_paragraph_that_starts_with_topics_stays_text() -> None:
    section = Section(1, "S", (Paragraph("Topics: what we covered"), Paragraph("More.")))
    b = Briefing(1, date(2024, 1, 2), "T", key_decisions=(Paragraph("a", bullet=True),))
    b = replace(b, sections=(section,))
    again = parse(dump(b)).sections[0]
    assert again.topics == ()
    assert len(again.paragraphs) == 2 and again.paragraphs[0].text.startswith("Topics\\:")


def test_guess_matches_topic_names_as_words_ignoring_case_and_accents() -> None:
    sections = (
        Section(1, "Support for UKRAINE", (Paragraph("Aid."),)),
        Section(
            2, "Budgets", (Paragraph("La securite europeenne, and [Kyiv](https://x.org/ukraine)."),)
        ),
        Section(3, "Chinatown", (Paragraph("Nothing here."),), (Subsection("Arms Control", ()),)),
        Section(4, "Already", (Paragraph("Ukraine."),), topics=("Trade",)),
    )
    b = Briefing(1, date(2024, 1, 2), "T", sections=sections)
    guessed = topics.guess(b, ["Ukraine", "Sécurité européenne", "China", "Arms control"])
    assert [s.topics for s in guessed.sections] == [
        ("Ukraine",),
        ("Sécurité européenne",),  # a link's target is not text the reader sees
        ("Arms control",),  # sub-headings count; "Chinatown" is not China
        ("Trade", "Ukraine"),  # what staff wrote stays first
    ]


def test_lint_warns_about_a_section_topic_the_organisation_does_not_have() -> None:
    b = parse(HEAD + "## 1. One\n\nTopics: Ukraine, Ukriane\n\nText.\n")
    problems = lint(b, for_sending=True, topics=["ukraine", "Trade"])
    found = [p for p in problems if p.code == "unknown-topic"]
    assert len(found) == 1
    assert found[0].severity == "warning" and found[0].line == 13
    assert "'Ukriane'" in found[0].message and "section 1" in found[0].message
    assert not [p for p in lint(b, for_sending=True) if p.code == "unknown-topic"]


def test_a_copy_for_given_topics_puts_their_sections_first() -> None:
    b = topics.guess(load(EXAMPLE), ["China", "Sweden"])
    assert topics.first_for(b, ["sweden"]) == (4,)
    assert topics.first_for(b, ["Nowhere"]) == ()
    settings = Settings(_env_file=None, public_base_url="https://news.example.org")
    paper = render_digest(b, settings)
    mine = render_digest(b, settings, topics.first_for(b, ["SWEDEN"]))
    assert "Your topics" not in paper.text and "Your topics" in mine.text
    text = mine.text
    assert text.index("Your topics") < text.index("5. Sweden") < text.index("Also in this")
    assert text.index("Also in this") < text.index("1. The Israel-Hamas war")
    assert "#section-5" in mine.html and 'id="section-5"' in mine.html
    assert mine.web_html == paper.web_html  # the web page is the paper's for everyone
