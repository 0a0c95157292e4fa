"""The digest and the web page in real Chromium, at a phone and a desktop width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.digest import Digest
from tests.local import CHROMIUM as LOCAL_CHROMIUM
from tests.local import CHROMIUM_ARGS as ARGS
from tests.local import missing

CHROMIUM = Path(LOCAL_CHROMIUM)
PHONE, DESKTOP = 375, 1024

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        missing("Debian's chromium is not installed (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def files(example_digest: Digest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rendered")
    (out / "digest.html").write_text(example_digest.html)
    (out / "web.html").write_text(example_digest.web_html)
    return {"digest": out / "digest.html", "web": out / "web.html", "dir": out}


def _luminance(rgb: str) -> float:
    r, g, b = (int(x) / 255 for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_digest_fits_the_screen_and_the_donate_button_is_easy_to_tap(
    browser, files, example, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(files["digest"].as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    donate = page.get_by_role("link", name="Donate now").first
    assert donate.is_visible()
    box = donate.bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] >= 0
    assert box["x"] + box["width"] <= width
    lead = page.get_by_text(example.sections[0].title, exact=False).first
    assert lead.is_visible()
    size = page.evaluate(
        "() => [...document.querySelectorAll('.nl-card li, .nl-card p')]"
        ".filter(e => e.innerText.trim().length > 60)"
        ".map(e => parseFloat(getComputedStyle(e).fontSize))"
    )
    assert size and min(size) >= 16
    page.screenshot(path=str(files["dir"] / f"digest-{width}.png"), full_page=True)
    page.close()


def test_digest_turns_dark_with_readable_text(browser, files) -> None:
    page = browser.new_page(viewport={"width": PHONE, "height": 800}, color_scheme="dark")
    page.goto(files["digest"].as_uri())
    colours = page.evaluate(
        "() => { const p = [...document.querySelectorAll('.nl-text p')]"
        ".find(e => e.innerText.length > 80);"
        " let bg = p; while (bg && getComputedStyle(bg).backgroundColor === 'rgba(0, 0, 0, 0)')"
        " bg = bg.parentElement;"
        " return [getComputedStyle(p).color, getComputedStyle(bg).backgroundColor]; }"
    )
    text, background = colours
    assert _luminance(text) - _luminance(background) > 0.5
    page.screenshot(path=str(files["dir"] / "digest-dark.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_web_page_fits_and_anchors_land_on_their_section(browser, files, example, width) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    last = example.sections[-1]
    page.goto(f"{files['web'].as_uri()}#{last.anchor}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    heading = page.locator(f"#{last.anchor}")
    assert heading.is_visible()
    assert page.evaluate("window.scrollY") > 0  # the browser jumped to the section
    donate = page.get_by_role("link", name="Donate now").first
    box = donate.bounding_box()
    assert box is not None and box["height"] >= 44
    page.screenshot(path=str(files["dir"] / f"web-{width}.png"), full_page=True)
    page.close()
