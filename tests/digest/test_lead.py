"""Leads: the opening of a section, cut where a reader would expect it."""

from __future__ import annotations

from newsletter.digest.inline import lead, parse, plain, to_html


def _lead(source: str, limit: int = 300) -> str:
    return plain(lead(parse(source), limit))


def test_a_short_paragraph_is_kept_whole() -> None:
    text = "One sentence. Two sentences."
    assert _lead(text) == text


def test_a_long_paragraph_is_cut_after_a_whole_sentence() -> None:
    first = "The ministers met in Brussels for two days of talks about the war. "
    second = "They agreed on very little beyond the usual statements of support. "
    text = first + second + "x " * 200
    assert _lead(text, 150) == (first + second).strip()


def test_abbreviations_and_open_quotes_are_not_sentence_ends() -> None:
    text = (
        "Dr. Davis said “quantum technologies can strengthen security. But they can also "
        "crack it” at the meeting. " + "More words follow here. " * 20
    )
    cut = _lead(text, 120)
    assert cut.startswith("Dr. Davis said “quantum")
    assert cut.endswith("at the meeting.")


def test_one_huge_sentence_is_cut_on_a_word_with_an_ellipsis() -> None:
    text = "word " * 100
    cut = _lead(text, 52)
    assert cut.endswith("…") and len(cut) <= 53
    assert cut[:-1].split() == ["word"] * len(cut[:-1].split())


def test_cutting_never_breaks_a_link() -> None:
    text = "Read the [full statement of the ministers](https://example.org/s) now. " * 10
    html = to_html(lead(parse(text), 100))
    assert html.count("<a ") == html.count("</a>") >= 1
