"""The archive page carries the whole briefing, with stable anchors and a donate button."""

from __future__ import annotations

from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import Digest, render_digest
from newsletter.digest.inline import parse as parse_inline
from newsletter.digest.inline import plain
from tests.digest.parsed import parse, squash


def _words(source: str) -> str:
    return squash(plain(parse_inline(source)))


def test_every_paragraph_of_the_briefing_is_on_the_page(example_digest: Digest, example: Briefing):
    shown = parse(example_digest.web_html).visible_text
    paragraphs = example.paragraphs()
    assert len(paragraphs) > 20
    for paragraph in paragraphs:
        assert _words(paragraph.text) in shown


def test_sections_and_sub_headings_have_their_anchors(example_digest, example) -> None:
    page = parse(example_digest.web_html)
    ids = {e.attrs["id"]: e.tag for e in page.elements if "id" in e.attrs}
    subsections = [sub for s in example.sections for sub in s.subsections]
    assert subsections
    for section in example.sections:
        assert ids[section.anchor] == "h2"
    for sub in subsections:
        assert ids[sub.anchor] == "h3"
    contents = {a.attrs["href"] for a in page.tags("a") if a.attrs.get("href", "").startswith("#")}
    assert {f"#{s.anchor}" for s in example.sections} <= contents


def test_page_has_the_appeal_and_a_donate_button(example_digest, example, settings) -> None:
    page = parse(example_digest.web_html)
    donate = [
        a for a in page.tags("a") if a.attrs.get("href") == f"{settings.public_base_url}/donate"
    ]
    assert len(donate) >= 2
    assert example.appeal is not None
    assert squash(example.appeal.heading) in page.visible_text


def test_page_is_responsive_and_has_a_language(example_digest) -> None:
    page = parse(example_digest.web_html)
    assert page.tags("html")[0].attrs.get("lang")
    viewport = [m for m in page.tags("meta") if m.attrs.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0].attrs["content"]


def test_real_links_are_kept_and_placeholders_become_text(made: Briefing, settings: Settings):
    page = parse(render_digest(made, settings).web_html)
    hrefs = [a.attrs.get("href") for a in page.tags("a")]
    assert "https://example.com/r2" in hrefs and "https://www.nato.int/a" in hrefs
    assert "#" not in hrefs and "" not in hrefs
    external = [a for a in page.tags("a") if a.attrs.get("href", "").startswith("https://ex")]
    assert all("noopener" in a.attrs.get("rel", "") for a in external)


def test_duplicate_sub_headings_get_distinct_anchors(settings: Settings) -> None:
    from dataclasses import replace

    from tests.digest import factory

    base = factory.briefing()
    again = replace(base.sections[2], subsections=base.sections[1].subsections)
    page = parse(
        render_digest(replace(base, sections=(*base.sections[:2], again)), settings).web_html
    )
    ids = [e.attrs["id"] for e in page.elements if "id" in e.attrs]
    assert len(ids) == len(set(ids))
    assert "more-pledges-of-support" in ids and "more-pledges-of-support-2" in ids
