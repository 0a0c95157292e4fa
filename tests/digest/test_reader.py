"""What a reader of the digest notices: leads worth reading, one appeal, donate on the first
screen, nothing fetched from elsewhere, an honest preview line, colours that work in the dark."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import Digest, render_digest
from newsletter.digest.view import LEAD_MIN, email_view
from tests.digest.parsed import parse, squash
from tests.local import CHROMIUM, CHROMIUM_ARGS, playwright_api


def test_every_lead_says_enough_and_none_repeats_a_key_decision(example: Briefing) -> None:
    view = email_view(example)
    for section in view.sections:
        assert len(section.lead.text) >= LEAD_MIN, section.heading
        assert len(section.lead.text) <= 301
        if section.lead.text.endswith("…"):
            assert not section.lead.text[:-1].endswith(" ")  # cut at a word
    six = view.sections[5]
    assert "first-ever quantum strategy" not in six.lead.text  # that is key decision 5
    two = view.sections[1]
    assert two.subheadings == tuple(sub.heading for sub in example.sections[1].subsections)


def test_sub_headings_are_listed_in_both_parts(example_digest: Digest, example: Briefing) -> None:
    shown = parse(example_digest.html).visible_text
    for sub in example.sections[1].subsections:
        assert sub.heading in shown
        assert sub.heading in example_digest.text


def test_nothing_is_fetched_from_elsewhere_and_the_preview_is_honest(
    example_digest: Digest, example: Briefing
) -> None:
    html = example_digest.html
    assert "Roboto" not in html  # MJML links Google Fonts for a Roboto in the font stack
    for part in (html, example_digest.mjml, example_digest.web_html):
        assert "fonts.googleapis" not in part and "@import" not in part
    page = parse(html)
    hidden = squash(" ".join(t for t, _, h in page.texts if h))
    first = squash(re.sub(r"[*\[\]]|\(#\)", "", example.key_decisions[0].text))
    assert hidden.startswith(first[:60])
    # hidden by display:none, never by text coloured like its background
    preheader = re.search(r'<div style="display:none;[^"]*">', html)
    assert preheader is not None and "color" not in preheader.group(0)
    assert "View in your browser" not in hidden


def test_the_preview_email_has_no_mailto_unsubscribe(
    example_digest: Digest, example: Briefing, settings: Settings
) -> None:
    from newsletter.digest.render import sample_person
    from newsletter.mail.message import Identity

    identity = Identity("briefings@example.org", list_id="briefings.example.org")
    raw = example_digest.message(identity, sample_person(settings, example))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<https://") and "mailto:" not in header
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_plain_text_labels_sources_and_keeps_links_short(
    made: Briefing, settings: Settings
) -> None:
    text = render_digest(made, settings).text
    for block in text.split("Sources:")[1:]:
        assert re.match(r"\n\[\d+\] ", block)  # the label sits right above the references
    anchors = [line for line in text.splitlines() if "#section-" in line]
    # the anchor adds a dozen characters to the archive address, not a second title
    assert anchors and all(re.search(r"#section-\d+$", line) for line in anchors)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    api = playwright_api()
    with api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _contrast(a: str, b: str) -> float:
    def lum(rgb: str) -> float:
        values = [int(x) / 255 for x in re.findall(r"[\d.]+", rgb)[:3]]
        lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in values]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.browser
def test_first_donate_link_is_on_the_first_phone_screen(
    browser: Any, example_digest: Digest, tmp_path: Any
) -> None:
    path = tmp_path / "digest.html"
    path.write_text(example_digest.html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 375, "height": 667})
    page.goto(path.as_uri())
    donate = page.locator("a[href*='/donate?']").first
    box = donate.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= 667 and box["y"] >= 0
    assert box["height"] >= 44 and donate.inner_text().strip() == "Donate"
    page.close()


@pytest.mark.browser
def test_dark_mode_buttons_and_dividers_keep_3_to_1(
    browser: Any, example_digest: Digest, tmp_path: Any
) -> None:
    path = tmp_path / "digest.html"
    path.write_text(example_digest.html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 375, "height": 667}, color_scheme="dark")
    page.goto(path.as_uri())
    found = page.evaluate(
        """() => {
          const bg = e => { while (e && getComputedStyle(e).backgroundColor === 'rgba(0, 0, 0, 0)')
                              e = e.parentElement; return getComputedStyle(e).backgroundColor; };
          const button = [...document.querySelectorAll('.nl-button td')].find(
              td => td.querySelector('a'));
          const panel = bg(button.closest('.nl-panel') || button.parentElement.parentElement);
          const divider = document.querySelector('.nl-divider');
          return {button: getComputedStyle(button).backgroundColor,
                  panel: bg(button.closest('table').parentElement.closest('td') || button),
                  text: getComputedStyle(button.querySelector('a')).color,
                  line: getComputedStyle(divider).borderTopColor,
                  card: bg(divider)};
        }"""
    )
    assert _contrast(found["button"], found["panel"]) >= 3, found
    assert _contrast(found["text"], found["button"]) >= 4.5, found
    assert 3 <= _contrast(found["line"], found["card"]) <= 7, found  # seen, but no glare
    page.close()


@pytest.mark.browser
def test_logo_alt_text_is_readable_when_images_are_blocked(
    browser: Any, made: Briefing, settings: Settings, tmp_path: Any
) -> None:
    blocked = settings.model_copy(update={"logo_url": "http://127.0.0.1:9/logo.png"})
    path = tmp_path / "digest.html"
    path.write_text(render_digest(made, blocked).html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 375, "height": 667})
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelector('.nl-logo img').complete")
    found = page.evaluate(
        """() => { const img = document.querySelector('.nl-logo img'); let e = img;
          while (e && getComputedStyle(e).backgroundColor === 'rgba(0, 0, 0, 0)')
            e = e.parentElement;
          return {alt: img.alt, text: getComputedStyle(img).color,
                  back: getComputedStyle(e).backgroundColor}; }"""
    )
    assert found["alt"] == settings.organisation_name
    assert _contrast(found["text"], found["back"]) >= 4.5, found
    page.close()
