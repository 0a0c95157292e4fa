"""Editing a briefing by part in real Chromium, under the app's own strict policy: a key
decision edited in its field shows in the live preview before anything is saved, a lint
finding appears beside the field it concerns, and the page is axe-clean at phone and
desktop width before and after the live swap. Screenshots of each checked page go to
var/screenshots/console-parts/ for a reviewer (not committed)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.briefing import store, writer
from newsletter.briefing.paper import read_paper
from newsletter.database import transaction
from newsletter.staff.models import Role
from tests.axe import scrolls_sideways, violations
from tests.console.conftest import PASSWORD, Console
from tests.console.papers import docx_with_placeholders
from tests.local import CHROMIUM, CHROMIUM_ARGS, free_port, playwright_api, screenshot, serving

pytestmark = pytest.mark.browser
WIDTHS = (375, 1280)
NEW = "Ministers agreed to publish every licence within a month."
INSECURE = "See the [annex](http://example.org/annex)."
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "console-parts"


@pytest.fixture
def site(console: Console) -> Iterator[str]:
    port = free_port()
    with serving(console.app, port):
        yield f"http://127.0.0.1:{port}"


def add_briefing(console: Console) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "brief.docx"
        path.write_bytes(docx_with_placeholders())
        briefing, _kind, _notes = read_paper(path)
    with transaction(console.app.state.sessions) as session:
        return store.create(session, writer.dump(briefing), "editor@example.org", "test").id


def sign_in(page: Any, site: str) -> None:
    page.goto(f"{site}/admin/sign-in")
    page.get_by_label("Email address").fill("editor@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/admin")


def axe_at_each_width(page: Any, step: str) -> list[str]:
    found = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        found += [f"{width}px {v}" for v in violations(page)]
        if scrolls_sideways(page):
            found.append(f"{width}px: the page scrolls sideways")
        screenshot(page, SHOTS / f"{step}-{width}.png")
    return found


def test_a_key_decision_edited_by_part_shows_live_with_lint_beside_its_field(
    console: Console, site: str
) -> None:
    console.add_staff("editor@example.org", Role.EDITOR)
    briefing_id = add_briefing(console)
    url = f"{site}/admin/briefings/{briefing_id}/parts"
    sync_api = playwright_api()
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # The app's own Content-Security-Policy holds here (axe needs it off, below).
        page = browser.new_context().new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        sign_in(page, site)
        page.goto(f"{site}/admin/briefings/{briefing_id}")
        page.get_by_role("link", name="Edit by part").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Edit by part")
        live = page.frame_locator("iframe.live").locator("body")
        expect(live).to_contain_text("Exports rose by a fifth")
        # The placeholder link is shown beside the section that holds it, and described by it.
        section = page.get_by_label("Section 1 text")
        expect(page.locator("#problems-section-1")).to_contain_text("SIPRI Arms Transfers")
        expect(section).to_have_accessible_description(
            "Markdown: a blank line between paragraphs, “- ” for a bullet, “### ” for a "
            "sub-heading. Error: link 'SIPRI Arms Transfers Database' has the placeholder "
            "target '#': fill in the real URL"
        )
        expect(page.locator("#lint-summary")).to_contain_text("2 error(s)")

        decisions = page.get_by_label("Key decisions")
        lines = decisions.input_value().split("\n")
        decisions.fill("\n".join([NEW, *lines[1:]]))
        expect(live).to_contain_text(NEW)  # the preview follows the unsaved text
        expect(live).not_to_contain_text("Exports rose by a fifth")
        expect(page.locator("#problems-key-decisions")).to_be_empty()
        decisions.fill("\n".join([NEW, *lines[1:], INSECURE]))
        expect(page.locator("#problems-key-decisions")).to_contain_text("is not HTTPS")
        expect(page.locator("#lint-summary")).to_contain_text("Key decisions")
        expect(page.locator("p.notice")).to_have_count(0)  # nothing was saved
        with transaction(console.app.state.sessions) as session:
            assert store.current(session, briefing_id).version == 1

        page.get_by_role("button", name="Save as a new version").click()
        expect(page.get_by_role("status").first).to_contain_text("Saved as version 2.")
        expect(page.get_by_label("Key decisions")).to_have_value(
            "\n".join([NEW, *lines[1:], INSECURE])
        )
        # The Markdown editor previews its unsaved text the same way.
        page.get_by_role("link", name="Back to the briefing").click()
        text = page.get_by_label("The briefing in Markdown")
        text.fill(text.input_value().replace(NEW, "Ministers agreed nothing at all."))
        expect(page.frame_locator("#live iframe.live").locator("body")).to_contain_text(
            "Ministers agreed nothing at all."
        )
        assert refused == [], refused

        checked = browser.new_context(bypass_csp=True).new_page()
        sign_in(checked, site)
        checked.goto(url)
        expect(checked.frame_locator("iframe.live").locator("body")).to_contain_text(NEW)
        problems = {"parts page": axe_at_each_width(checked, "1-parts")}
        checked.get_by_label("Section 2 text").fill("## Not a part")
        expect(checked.locator("#problems-section-2")).to_contain_text("headings cannot")
        expect(checked.locator("#live")).to_contain_text("The preview waits")
        problems["after a live swap"] = axe_at_each_width(checked, "2-parts-after-swap")
        checked.goto(f"{site}/admin/briefings/{briefing_id}")
        markdown_text = checked.get_by_label("The briefing in Markdown")
        markdown_text.fill(markdown_text.input_value() + "\nMore words.\n")
        expect(checked.locator("#live iframe.live")).to_have_count(1)
        problems["briefing page after a live swap"] = axe_at_each_width(
            checked, "3-briefing-after-swap"
        )
        browser.close()
    assert not {k: v for k, v in problems.items() if v}, problems
