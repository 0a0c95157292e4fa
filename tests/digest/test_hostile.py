"""A briefing can never inject script, style, attributes or comments into the email or page."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.digest import render_digest
from newsletter.digest.inline import markdown_html
from tests.digest import factory
from tests.digest.parsed import Parsed, parse

SAFE_SCHEMES = ("http://", "https://", "mailto:", "#")


def _assert_inert(page: Parsed, *, styles_allowed: int) -> None:
    assert not page.tags("script")
    assert not page.tags("iframe") and not page.tags("object") and not page.tags("svg")
    assert len(page.tags("style")) == styles_allowed
    for element in page.elements:
        assert not [name for name in element.attrs if name.startswith("on")], element
        for name in ("href", "src", "action", "formaction"):
            value = element.attrs.get(name)
            if value is not None:
                assert value.startswith(SAFE_SCHEMES), (element.tag, value)
        style = element.attrs.get("style", "")
        assert "position:fixed" not in style.replace(" ", "") and "color:red" not in style
    assert not [c for c in page.comments if "secret" in c]


@pytest.fixture
def hostile_and_plain(settings: Settings):
    return (
        render_digest(factory.hostile_briefing(), settings),
        render_digest(factory.briefing(), settings),
    )


def test_hostile_text_stays_inert_in_the_email(hostile_and_plain) -> None:
    hostile, plain = hostile_and_plain
    page = parse(hostile.html)
    _assert_inert(page, styles_allowed=len(parse(plain.html).tags("style")))
    assert len(page.tags("img")) == len(parse(plain.html).tags("img"))
    # The words are still there for the reader, shown as text.
    assert "<script>alert('x')</script>" in page.visible_text


def test_hostile_text_stays_inert_on_the_web_page(hostile_and_plain) -> None:
    hostile, plain = hostile_and_plain
    page = parse(hostile.web_html)
    _assert_inert(page, styles_allowed=len(parse(plain.web_html).tags("style")))
    assert not page.tags("img")
    assert "Title <script>" in page.visible_text


def test_hostile_text_in_the_plain_text_part_is_just_text(hostile_and_plain) -> None:
    hostile, _ = hostile_and_plain
    references = re.findall(r"^\s*\[\d+\].*$", hostile.text, re.M)
    assert not [line for line in references if "javascript:" in line or "data:" in line]
    assert "&lt;" not in hostile.text and "&amp;" not in hostile.text
    assert "<b>entity</b>" in hostile.text  # entities decoded once, shown as the author typed


def test_hostile_text_cannot_touch_the_mjml(hostile_and_plain) -> None:
    """Markup reaches MJML escaped, so it cannot open an mj-* element or end a section."""
    hostile, plain = hostile_and_plain
    for tag in ("<mj-", "</mj-"):
        assert hostile.mjml.count(tag) == plain.mjml.count(tag)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "**bold** and *it* and `code`",
            "<strong>bold</strong> and <em>it</em> and <code>code</code>",
        ),
        (
            "[site](https://example.org/?a=1&b=2)",
            '<a href="https://example.org/?a=1&amp;b=2" rel="noopener noreferrer">site</a>',
        ),
        (
            "[mail](mailto:a@example.org)",
            '<a href="mailto:a@example.org" rel="noopener noreferrer">mail</a>',
        ),
        ("[lost](#) link", "lost link"),
        ("[empty]() link", "empty link"),
        ("[js](javascript:alert(1))", "[js](javascript:alert(1))"),
        ("[rel](/relative)", "rel"),
        ("<b onclick=x>hi</b>", "&lt;b onclick=x&gt;hi&lt;/b&gt;"),
        ("\\$61.4 & 5 < 6", "$61.4 &amp; 5 &lt; 6"),
    ],
)
def test_inline_markdown_becomes_safe_html(source: str, expected: str) -> None:
    assert markdown_html(source) == expected


def test_fragment_links_work_on_the_web_page_only() -> None:
    assert markdown_html("[see](#section-2)", fragments=True) == (
        '<a href="#section-2" rel="noopener noreferrer">see</a>'
    )
    assert markdown_html("[see](#section-2)") == "see"


_PIECES = st.sampled_from(
    ["<script>", "</script>", "<a href='javascript:x'>", "[x](", ")", "](#)", "**", "*", "`",
     "<!--", "-->", "&lt;", "&#60;", "<img src=x onerror=y>", "\\", "\n", "  \n", "style=",
     "https://e.org", "mailto:a@b.c", "data:text/html,", "<svg onload=1>", '"', "'", "[", "]"]
)  # fmt: skip


@given(st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=25).map("".join))
@examples(max_examples=150, deadline=None)
def test_no_input_yields_more_than_links_and_emphasis(source: str) -> None:
    for fragments in (False, True):
        page = parse(f"<div>{markdown_html(source, fragments=fragments)}</div>")
        tags = {e.tag for e in page.elements}
        assert tags <= {"div", "a", "strong", "em", "code", "br", "b", "i"}
        for element in page.elements:
            assert set(element.attrs) <= {"href", "rel"}
            href = element.attrs.get("href")
            assert href is None or href.startswith(SAFE_SCHEMES)
        assert not page.comments
