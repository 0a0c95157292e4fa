"""Importing PDF-extracted briefing papers: the seed paper and papers of the same shape."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from newsletter.briefing.model import Briefing
from newsletter.briefing.plaintext import convert
from newsletter.errors import BriefingError
from tests.briefing.helpers import SEED, SENTENCE_END, SOURCE_LINK, read_paper


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed(seed_text: str) -> Briefing:
    return convert(seed_text)


def all_text(b: Briefing) -> list[str]:
    return [p.text for p in b.paragraphs()]


def test_seed_header_fields(seed: Briefing) -> None:
    assert seed.number == 112
    assert seed.date == date(2023, 12, 3)
    assert seed.contact.name == "Dr. Ian Davis"
    assert seed.contact.email == "idavis@natowatch.org"
    assert seed.contact.website == "https://www.natowatch.org"
    assert seed.title.startswith("Foreign Ministers renew pledges to Ukraine")
    assert seed.title.endswith("Washington Summit in 2024")
    assert seed.subtitle.split("\n") == [
        "A review of the meeting of NATO Ministers of Foreign Affairs",
        "Brussels, 28-29 November 2023",
    ]


def test_seed_key_decisions(seed: Briefing) -> None:
    assert seed.key_decisions_heading == (
        "Key activities and decisions taken by the NATO Foreign Ministers"
    )
    assert len(seed.key_decisions) == 5
    assert all(p.bullet for p in seed.key_decisions)
    # the bullet decoration is not part of the text
    assert not any(p.text.startswith(("⇒", "-", "•")) for p in seed.key_decisions)
    assert seed.key_decisions[2].links[0].text == "statement"


def test_seed_summary(seed: Briefing) -> None:
    assert seed.summary_heading == "Summary of the Ministerial Meeting"
    assert len(seed.summary) == 4
    assert seed.summary[0].text.startswith("This NATO Foreign Ministerial meeting discussed six")


def test_seed_sections_and_sub_headings(seed: Briefing) -> None:
    assert [(s.number, s.title) for s in seed.sections] == [
        (1, "The Israel-Hamas war"),
        (2, "Support for Ukraine"),
        (3, "Strategic competition with China"),
        (4, "Tensions in the Western Balkans"),
        (5, "Sweden’s NATO ratification"),
        (6, "Technological innovation"),
    ]
    assert [sub.heading for sub in seed.sections[1].subsections] == [
        "More pledges of support",
        "More weapons required",
        "Meeting of the NATO-Ukraine Council",
        "The weaponization of migration",
        "Russia “mortgaging its future to China”",
    ]
    assert all(not s.subsections for s in seed.sections if s.number != 2)
    assert all(s.all_paragraphs for s in seed.sections)


def test_seed_every_link_is_kept(seed: Briefing, seed_text: str) -> None:
    expected = Counter(SOURCE_LINK.findall(seed_text))
    found = Counter((link.text, link.url) for link in seed.links)
    assert sum(expected.values()) > 20
    assert found == expected


def test_seed_page_breaks_do_not_split_sentences(seed: Briefing) -> None:
    texts = all_text(seed)
    for text in texts:
        assert text.rstrip("*").endswith(SENTENCE_END), f"ends mid-sentence: ...{text[-60:]}"
    joined = [
        "operated double standards in criticising Russia’s violations",
        "and the Minister of Foreign Affairs of Ukraine, Dmytro Kuleba",
        "dependent on China. So yes, year by year",
        "association of Serb majority municipalities as",
        "while preventing competitors from using these technologies",
    ]
    for phrase in joined:
        assert sum(phrase in t for t in texts) == 1, phrase


def test_seed_escapes_undone_and_text_kept(seed: Briefing) -> None:
    texts = "\n".join(all_text(seed))
    assert "$61.4 billion" in texts
    assert "\\$" not in texts
    assert "Türkiye" in texts and "Priština" in texts and "€50bn" in texts


def test_seed_appeal(seed: Briefing) -> None:
    assert seed.appeal is not None
    assert seed.appeal.heading == "DONATE NOW PLEASE"
    assert len(seed.appeal.paragraphs) == 1
    text = seed.appeal.paragraphs[0].text
    assert text.startswith("NATO Watch is a small non-profit organisation")
    assert "**independent oversight and analysis**" in text
    assert all("DONATE" not in s.title for s in seed.sections)


def test_crlf_paper_with_other_quirks() -> None:
    text = read_paper("briefing-113.txt")
    assert "\r\n" in text
    b = convert(text)
    assert (b.number, b.date) == (113, date(2024, 2, 14))
    assert b.contact.name == "Jane Smith"
    assert b.contact.email == "jane.smith@peacewatch.example.org"
    assert b.contact.website == "https://www.peacewatch.example.org"
    assert b.title == (
        "Defence Ministers agree new Black Sea patrols as Türkiye and Greece ease tensions"
    )
    assert b.subtitle == "Notes on the meeting of Defence Ministers, Brussels, 12-13 February 2024"
    assert b.key_decisions_heading == "Main outcomes"
    # '•' bullets, one wrapped onto a second line
    assert len(b.key_decisions) == 3
    assert b.key_decisions[1].text.endswith("plans for the Baltic states before the summer.")
    assert b.summary_heading == "Overview"
    assert [s.title for s in b.sections] == [
        "Türkiye and the Black Sea",
        "The Western Balkans",
        "Spending",
    ]
    assert [x.heading for x in b.sections[0].subsections] == ["Mine clearing", "Greece and Türkiye"]
    assert [x.heading for x in b.sections[1].subsections] == ["Is the mission big enough?"]
    # a page break with a bare page number between the halves of a sentence
    mines = b.sections[0].subsections[0].paragraphs
    assert len(mines) == 1
    assert "the routes that remain closed to shipping." in mines[0].text
    # the second half starts with a capital (a place name) and is still joined
    balkans = b.sections[1].paragraphs
    assert len(balkans) == 1
    assert "talks with Belgrade, which resumed in January" in balkans[0].text
    assert "Priština" in balkans[0].text
    assert "$120 million" in b.key_decisions[0].text
    assert b.appeal is not None and b.appeal.heading == "How you can support us"
    assert b.appeal.paragraphs[0].text.startswith("PeaceWatch is funded by its readers.")
    assert all(not p.text.endswith("\r") for p in b.paragraphs())


def test_hard_wrapped_paper_with_star_bullets() -> None:
    b = convert(read_paper("briefing-7.txt"))
    assert (b.number, b.date) == (7, date(2024, 5, 2))
    assert b.contact.name == "Ana Kovač"
    assert b.contact.website == "https://www.balkanmonitor.example.net"
    assert b.title == (
        "Border talks stall again as Priština and Belgrade trade accusations over licence plates"
    )
    assert b.subtitle == "A review of the EU-facilitated dialogue, April 2024"
    assert b.key_decisions_heading == "Key outcomes"
    assert [p.text[:20] for p in b.key_decisions] == [
        "The two sides met tw",
        "Licence plate rules ",
        "A new [hotline](http",
    ]
    assert b.key_decisions[0].text.endswith('the EU envoy called the talks "frank".')
    assert b.summary_heading == "Summary" and len(b.summary) == 1
    assert [s.number for s in b.sections] == [1, 2]
    assert b.sections[0].subsections[0].heading == "What the envoy proposed"
    assert b.sections[1].subsections[0].heading == "What next for the dialogue?"
    first = b.sections[0].paragraphs
    assert len(first) == 1
    assert "makes daily life impossible for people in the north" in first[0].text
    assert b.appeal is not None and b.appeal.heading == "DONATIONS WELCOME"
    assert len(b.appeal.paragraphs) == 2
    for text in all_text(b):
        assert text.endswith(SENTENCE_END), text


PAPER = """Briefing No. {number}

{when}

Contact: A. Person
a.person@example.org

A title for a test

Decisions:

- One decision was taken.
- Another one was taken.

Summary

Some summary text here.

1. First section

{body}

Please donate today!

Give what you can.
"""


def paper(body: str = "A paragraph.", *, number: str = "5", when: str = "1 March 2024") -> str:
    return PAPER.format(body=body, number=number, when=when)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("1 March 2024", date(2024, 3, 1)),
        ("1st March 2024", date(2024, 3, 1)),
        ("March 1, 2024", date(2024, 3, 1)),
        ("Mar 1 2024", date(2024, 3, 1)),
        ("2024-03-01", date(2024, 3, 1)),
        ("01/03/2024", date(2024, 3, 1)),
        ("Date: 1 March 2024", date(2024, 3, 1)),
    ],
)
def test_date_forms(written: str, expected: date) -> None:
    assert convert(paper(when=written)).date == expected


def test_appeal_worded_with_exclamation_and_bullet_dashes() -> None:
    b = convert(paper())
    assert b.appeal is not None
    assert b.appeal.heading == "Please donate today!"
    assert [p.text for p in b.key_decisions] == [
        "One decision was taken.",
        "Another one was taken.",
    ]
    assert b.key_decisions_heading == "Decisions"


def test_form_feed_page_break_joins_the_sentence() -> None:
    b = convert(paper("The ministers could not agree on the\f\nbudget for next year."))
    assert [p.text for p in b.sections[0].paragraphs] == [
        "The ministers could not agree on the budget for next year."
    ]


def test_heading_after_complete_paragraph_is_a_sub_heading() -> None:
    b = convert(paper("First point made here.\n\nA new angle\n\nMore words follow here."))
    section = b.sections[0]
    assert [p.text for p in section.paragraphs] == ["First point made here."]
    assert section.subsections[0].heading == "A new angle"


def test_short_line_inside_a_split_sentence_is_not_a_heading() -> None:
    b = convert(paper("He spoke about the\n\nbudget cuts\n\nand left early."))
    assert b.sections[0].paragraphs[0].text == "He spoke about the budget cuts and left early."
    assert not b.sections[0].subsections


def test_markdown_meaningful_escapes_stay_and_block_starts_are_escaped() -> None:
    b = convert(paper("Costs rose 5\\% to \\$3 \\*per unit\\*.\n\n2023. A year to forget."))
    texts = [p.text for p in b.sections[0].paragraphs]
    assert texts == ["Costs rose 5% to $3 \\*per unit\\*.", "2023\\. A year to forget."]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n\n",
        "Just a shopping list\n\n- eggs\n- milk\n",
        paper(number="x"),
        paper(when="sometime soon"),
        paper().replace("1. First section", "First section"),
    ],
)
def test_text_that_is_not_a_briefing_is_refused(text: str) -> None:
    with pytest.raises(BriefingError):
        convert(text)


def test_capitalised_tail_of_a_cut_sentence_is_joined() -> None:
    b = convert(paper("He met officials from\n\nBelgrade and Priština\n\nin a closed session."))
    assert [p.text for p in b.sections[0].paragraphs] == [
        "He met officials from Belgrade and Priština in a closed session."
    ]


def test_organisation_name_above_the_masthead_and_a_short_intro() -> None:
    text = (
        "Arms Control Watch\n\nBriefing No 21\n30 June 2024\n\n"
        "Small arms exports rise again\n\nKey points\n\n"
        "– Exports rose by a tenth.\n– Two new licences were refused.\n\n"
        "1. Exports\n\nThe figures were published in June.\n\n"
        "Support us\n\nEvery gift counts.\n"
    )
    b = convert(text)
    assert b.title == "Small arms exports rise again"
    assert b.subtitle == ""
    assert b.key_decisions_heading == "Key points"
    assert [p.text for p in b.key_decisions] == [
        "Exports rose by a tenth.",
        "Two new licences were refused.",
    ]
    assert b.appeal is not None and b.appeal.heading == "Support us"


def test_number_and_date_on_one_line_and_contact_details_on_the_label_line() -> None:
    text = paper().replace(
        "Briefing No. 5\n\n1 March 2024\n\nContact: A. Person\na.person@example.org",
        "Briefing Paper No. 41 — 9 October 2024\nContact: office@example.org\nTel: +44 1",
    )
    b = convert(text)
    assert (b.number, b.date) == (41, date(2024, 10, 9))
    assert b.contact.email == "office@example.org"
    assert b.contact.name == ""
    assert b.title == "A title for a test"


def test_headings_printed_straight_above_their_paragraphs() -> None:
    body = (
        "The opening paragraph of the section is hard-wrapped at about seventy\n"
        "characters, as text extracted from a PDF often is.\n\n"
        "A sub-heading without a blank line\n"
        "The paragraph under it starts on the very next line and is wrapped at\n"
        "the same width as the one above, so its first line is a long one.\n\n"
        "2. Second section\n"
        "Its text also follows without a blank line in between the heading and\n"
        "the paragraph."
    )
    b = convert(paper(body))
    first, second = b.sections
    assert first.paragraphs[0].text.endswith("as text extracted from a PDF often is.")
    assert first.subsections[0].heading == "A sub-heading without a blank line"
    assert first.subsections[0].paragraphs[0].text.startswith("The paragraph under it starts")
    assert (second.number, second.title) == (2, "Second section")
    assert second.paragraphs[0].text.startswith("Its text also follows")


@pytest.mark.parametrize(
    ("line", "series", "number"),
    [
        ("Policy Brief No.27", "Policy Brief", 27),
        ("Research Note 5", "Research Note", 5),
        ("Working Paper No. 12", "Working Paper", 12),
        ("BRIEFING PAPER #7", "Briefing Paper", 7),
        ("#31", "Briefing", 31),
        ("Occasional Paper Nr. 4 – 1 March 2024", "Occasional Paper", 4),
    ],
)
def test_masthead_series_and_number_from_their_shape(line: str, series: str, number: int) -> None:
    b = convert(paper().replace("Briefing No. 5", line))
    assert (b.series, b.number) == (series, number)
    assert b.label == f"{series} No. {number}"


@pytest.mark.parametrize("line", ["Report 2024", "Agenda 2030", "Top 10 reasons to act"])
def test_a_title_with_a_figure_is_no_number(line: str) -> None:
    with pytest.raises(BriefingError, match="--number N"):
        convert(paper().replace("Briefing No. 5", line))


@pytest.mark.parametrize(
    "mark", ["- •", "-⇒", "- ⇒", "•", "▪", "◦", "●", "➢", "✓", "\uf0b7", "*", "+", "–"]
)
def test_bullets_of_every_common_kind(mark: str) -> None:
    text = paper().replace("- One decision", f"{mark} One decision")
    text = text.replace("- Another one", f"{mark} Another one")
    b = convert(text)
    assert [p.text for p in b.key_decisions] == [
        "One decision was taken.",
        "Another one was taken.",
    ]


def test_contact_on_one_line_is_split_into_its_fields() -> None:
    text = paper().replace(
        "Contact: A. Person\na.person@example.org",
        "Contact: Dr. A. Person, a.person@example.org, www.example.org",
    )
    contact = convert(text).contact
    assert (contact.name, contact.email, contact.website) == (
        "Dr. A. Person",
        "a.person@example.org",
        "https://www.example.org",
    )


def test_an_appeal_written_as_the_last_heading_is_the_appeal() -> None:
    body = (
        "A paragraph of the only section.\n\nA sub-heading\n\nMore text under it.\n\n"
        "Support independent monitoring\n\nWe take no government money. Please make a gift."
    )
    no_appeal = "Please donate today!\n\nGive what you can.\n"
    b = convert(paper(body).replace(no_appeal, ""))
    assert b.appeal is not None and b.appeal.heading == "Support independent monitoring"
    assert [sub.heading for sub in b.sections[0].subsections] == ["A sub-heading"]
    # the same heading over text that asks for nothing stays a sub-heading
    quiet = paper(body.replace("Please make a gift.", "It was quiet.")).replace(no_appeal, "")
    last = convert(quiet)
    assert last.appeal is None
    assert last.sections[0].subsections[-1].heading == "Support independent monitoring"
