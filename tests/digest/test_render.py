"""The digest email: content, standards and branding, checked as properties."""

from __future__ import annotations

import quopri
import re
import shutil
from pathlib import Path

import pytest

from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import DigestTemplateError, render_digest
from newsletter.digest.inline import parse as parse_inline
from newsletter.digest.inline import plain
from newsletter.digest.render import SAMPLE_EMAIL, SAMPLE_NAME
from tests.digest.parsed import parse, squash

REF = re.compile(r" \[\d+\]")


def _plain(source: str) -> str:
    return squash(plain(parse_inline(source)))


@pytest.mark.parametrize("which", ["example", "made"])
def test_every_key_decision_and_section_heading_is_in_both_parts(
    which: str, request: pytest.FixtureRequest, settings: Settings
) -> None:
    briefing: Briefing = request.getfixturevalue(which)
    digest = render_digest(briefing, settings)
    html_text = parse(digest.html).visible_text
    text = REF.sub("", squash(digest.text))
    assert briefing.key_decisions and briefing.sections
    for decision in briefing.key_decisions:
        assert _plain(decision.text) in html_text
        assert _plain(decision.text) in text
    for section in briefing.sections:
        heading = f"{section.number}. {squash(section.title)}"
        assert heading in html_text
        assert heading in text
    assert squash(briefing.title) in html_text
    assert squash(briefing.title) in squash(digest.text)


def test_header_shows_organisation_number_and_date(example_digest, example, settings) -> None:
    shown = parse(example_digest.html).visible_text
    assert settings.organisation_name in shown
    assert f"Briefing Paper No. {example.number}" in shown.replace("\xa0", " ")  # its series
    assert "3 December 2023" in shown


def test_sample_copy_carries_every_link_in_both_parts(example_digest, example, settings) -> None:
    """The sample copy is personalised for the sample reader with subscriber 0's links."""
    page = parse(example_digest.html)
    hrefs = [a.attrs.get("href", "") for a in page.tags("a")]
    base = settings.public_base_url
    for prefix in (f"{base}/donate?t=", f"{base}/u/", f"{base}/preferences/"):
        assert any(h.startswith(prefix) for h in hrefs), prefix
        assert prefix in example_digest.text
    assert f"Dear {SAMPLE_NAME}," in page.visible_text
    assert SAMPLE_EMAIL in example_digest.text
    assert "xslot" not in example_digest.html + example_digest.text + example_digest.mjml


def test_donate_button_comes_right_after_the_key_decisions_and_again_at_the_end(
    example_digest, example
) -> None:
    text = parse(example_digest.html).visible_text
    donate = [m.start() for m in re.finditer("Donate now", text)]
    last_decision = text.index(_plain(example.key_decisions[-1].text))
    first_section = text.index(f"1. {example.sections[0].title}")
    assert len(donate) == 2
    assert last_decision < donate[0] < first_section
    assert donate[1] > text.index(f"{example.sections[-1].number}. {example.sections[-1].title}")
    assert example.appeal is not None
    # the appeal's own words, each sentence once: the pitch is not repeated in the appeal
    for sentence in re.split(r"(?<=\.) ", _plain(example.appeal.paragraphs[0].text)):
        assert text.count(sentence.strip()) == 1, sentence


def test_each_section_links_to_its_anchor_on_the_web_page(example_digest, example, settings):
    hrefs = {a.attrs.get("href") for a in parse(example_digest.html).tags("a")}
    archive = f"{settings.public_base_url}/archive/{example.slug}"
    for section in example.sections:
        assert f"{archive}#{section.anchor}" in hrefs
        assert f"{archive}#{section.anchor}" in example_digest.text
        assert f'id="{section.anchor}"' in example_digest.web_html


def test_leads_are_short_and_placeholder_links_are_plain_text(example_digest, example) -> None:
    page = parse(example_digest.html)
    assert not [a for a in page.tags("a") if a.attrs.get("href", "").strip() in ("", "#")]
    text = page.visible_text
    for section in example.sections:
        heading = f"{section.number}. {section.title}"
        after = text[text.index(heading) + len(heading) :]
        lead = after[: after.index("Read the full analysis")].split("In this section")[0]
        lead = lead.split("Sources cited")[0]
        assert 150 <= len(lead.strip()) <= 320, lead


def test_size_fits_before_gmail_clips_and_style_is_small(example_digest) -> None:
    html = example_digest.html.encode()
    assert len(html) < 100_000
    assert len(quopri.encodestring(html)) < 100_000
    styles = re.findall(r"<style[^>]*>(.*?)</style>", example_digest.html, re.S)
    assert 0 < sum(len(s.encode()) for s in styles) < 16_000


def test_accessibility_and_dark_mode_markup(example_digest, example) -> None:
    page = parse(example_digest.html)
    assert page.tags("html")[0].attrs["lang"] == example.language
    metas = {m.attrs.get("name"): m.attrs.get("content") for m in page.tags("meta")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert page.tags("title")
    tables = page.tags("table")
    assert tables and all(t.attrs.get("role") == "presentation" for t in tables)
    hidden = " ".join(t for t, _, h in page.texts if h)
    assert len(squash(hidden)) <= 150  # a short preview line, not a hidden text block


def test_body_text_is_at_least_16px_and_buttons_at_least_44px(example_digest, example) -> None:
    page = parse(example_digest.html)
    sized = [(squash(t), px) for t, px, hidden in page.texts if t.strip() and not hidden]
    decision = _plain(example.key_decisions[0].text)
    lead = _plain(example.sections[0].paragraphs[0].text)
    body = [px for t, px in sized if decision.startswith(t) or lead.startswith(t)]
    assert len(body) >= 2
    assert all(px is not None and px >= 16 for px in body)
    assert all(px is not None and px >= 14 for _, px in sized)  # even the fine print
    buttons = [a for a in page.tags("a") if "/donate?" in a.attrs.get("href", "")]
    buttons = [a for a in buttons if "padding:" in a.attrs.get("style", "")]
    assert len(buttons) == 3  # the header's compact "Donate" and two "Donate now"
    for button in buttons:
        style = button.attrs["style"]
        line = int(re.search(r"line-height:(\d+)px", style)[1])  # type: ignore[index]
        pad = re.search(r"padding:(\d+)px", style)
        assert pad is not None
        assert line + 2 * int(pad[1]) >= 44


def test_logo_has_alt_text_naming_the_organisation(made: Briefing, settings: Settings) -> None:
    branded = settings.model_copy(update={"logo_url": "https://cdn.example.org/logo.png"})
    page = parse(render_digest(made, branded).html)
    images = page.tags("img")
    assert images and all(img.attrs.get("alt") for img in images)
    logo = [i for i in images if i.attrs["src"] == "https://cdn.example.org/logo.png"]
    assert logo and logo[0].attrs["alt"] == settings.organisation_name


def test_branding_comes_from_settings(made: Briefing, settings: Settings) -> None:
    other = settings.model_copy(
        update={
            "organisation_name": "Peace Ledger Trust",
            "organisation_legal_name": "Peace Ledger Trust CIC",
            "postal_address": "1 Quay Street, Bristol BS1 4DJ",
            "brand_colour": "#aa3300",
            "charity_statement": "",
        }
    )
    digest = render_digest(made, other)
    for part in (digest.html, digest.text):
        assert "Peace Ledger Trust" in part
        assert "1 Quay Street, Bristol BS1 4DJ" in part
        assert "NATO Watch" not in part
    assert "#aa3300" in digest.html
    assert "Peace Ledger Trust" in digest.web_html


def test_plain_text_is_wrapped_underlined_and_free_of_markup(example_digest, example) -> None:
    text = example_digest.text
    lines = text.splitlines()
    long = [line for line in lines if len(line) > 78 and "://" not in line]
    assert not long
    assert not re.search(r"&(?:#\d+|#x[0-9a-f]+|[a-z]+);", text, re.I)
    assert "<" not in text and "**" not in text
    title_end = lines.index(next(line for line in lines if set(line) == {"="}))
    assert squash(" ".join(lines[title_end - 2 : title_end])).endswith(squash(example.title)[-30:])
    assert len(lines[title_end]) >= max(len(line) for line in lines[title_end - 2 : title_end])
    for section in example.sections:
        heading = f"{section.number}. {section.title}"
        at = lines.index(heading)
        assert lines[at + 1] == "-" * len(heading)


def test_cited_links_are_numbered_under_their_section(made: Briefing, settings: Settings) -> None:
    text = render_digest(made, settings).text
    section_two = text[text.index("2. Support for Ukraine") : text.index("3. Strategic")]
    number = re.search(r"\[(\d+)\] a report: https://example.com/r2", section_two)
    assert number is not None
    # the lead skips the sentence that repeats key decision 1; its link is listed as a source
    lead = section_two.split("Sources:")[0]
    assert "welcomed" not in lead and "He also hoped" in lead
    assert re.search(r"\[\d+\] welcomed: https://www.nato.int/a", section_two)


def test_a_template_without_an_unsubscribe_link_is_refused(
    made: Briefing, settings: Settings, tmp_path: Path
) -> None:
    shutil.copytree(settings.templates_dir, tmp_path / "templates")
    txt = tmp_path / "templates" / "email" / "digest.txt.j2"
    txt.write_text(txt.read_text().replace("{{ slot.unsubscribe }}", "(removed)"))
    edited = settings.model_copy(update={"templates_dir": tmp_path / "templates"})
    with pytest.raises(DigestTemplateError, match="unsubscribe"):
        render_digest(made, edited)


def test_a_template_typo_is_one_clear_error(made, settings, tmp_path: Path) -> None:
    shutil.copytree(settings.templates_dir, tmp_path / "templates")
    mjml = tmp_path / "templates" / "email" / "digest.mjml.j2"
    mjml.write_text(mjml.read_text().replace("{{ b.title }}", "{{ b.titel }}"))
    edited = settings.model_copy(update={"templates_dir": tmp_path / "templates"})
    with pytest.raises(DigestTemplateError, match="titel"):
        render_digest(made, edited)


def test_templates_cannot_reach_secrets(made, settings, tmp_path: Path) -> None:
    shutil.copytree(settings.templates_dir, tmp_path / "templates")
    mjml = tmp_path / "templates" / "email" / "digest.mjml.j2"
    leak = "{{ settings.secret_key.get_secret_value() }}"
    mjml.write_text(mjml.read_text().replace("{{ b.title }}", leak))
    edited = settings.model_copy(update={"templates_dir": tmp_path / "templates"})
    with pytest.raises(DigestTemplateError, match="secret_key"):
        render_digest(made, edited)


def test_the_written_mjml_compiles_to_the_sample_html(example_digest) -> None:
    """digest.mjml is a real, standalone source: staff can feed it to any MJML tool."""
    import mjml

    compiled = mjml.mjml2html(example_digest.mjml, disable_comments=True)
    assert squash(compiled.replace(">\n<", "><")) == squash(
        example_digest.html.replace(">\n<", "><")
    )


def test_a_bare_briefing_still_makes_a_complete_email(settings: Settings) -> None:
    from datetime import date

    from newsletter.briefing.model import Section

    bare = Briefing(number=1, date=date(2024, 1, 2), title="Bare", sections=(Section(1, "Empty"),))
    digest = render_digest(bare, settings)
    page = parse(digest.html)
    assert "1. Empty" in page.visible_text
    assert '<p style="margin:0 0 12px;"></p>' not in digest.html
    for part in (digest.html, digest.text):
        assert f"{settings.public_base_url}/donate?" in part
        assert f"{settings.public_base_url}/u/" in part
