"""From a Word paper to a sent briefing in real Chromium, as a communications officer works:
upload, fill the two placeholder links, see lint turn clean, preview (phone, dark), send a
test copy, schedule two minutes ahead in the local zone, change to send now, watch it
finish, read the report. axe-core on every page at phone and desktop width; a screenshot
of each step goes to var/screenshots/console-send/ for a reviewer (not committed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.staff.models import Role
from tests.axe import scrolls_sideways, violations
from tests.console.conftest import PASSWORD, Console
from tests.console.flow import add_readers, outbox, send_due
from tests.console.papers import PLACEHOLDERS, REAL, docx_with_placeholders
from tests.local import CHROMIUM, CHROMIUM_ARGS, free_port, playwright_api, screenshot, serving

pytestmark = pytest.mark.browser
WIDTHS = (375, 1280)
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "console-send"


@pytest.fixture
def site(console: Console) -> Iterator[str]:
    port = free_port()
    with serving(console.app, port):
        yield f"http://127.0.0.1:{port}"


class Checker:
    """axe and sideways scrolling at each width, and a screenshot, once per step."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}
        SHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, step: str) -> None:
        found = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            found += [f"{width}px {v}" for v in violations(page)]
            if scrolls_sideways(page):
                found.append(f"{width}px: the page scrolls sideways")
            screenshot(page, SHOTS / f"{step}-{width}.png")
        self.problems[step] = found


def sign_in(page: Any, site: str, email: str) -> None:
    page.goto(f"{site}/admin/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/admin")


def test_an_officer_sends_a_word_paper_from_the_browser(
    console: Console, site: str, tmp_path: Path
) -> None:
    console.add_staff("editor@example.org", Role.EDITOR)
    console.add_staff("viewer@example.org", Role.VIEWER)
    add_readers(console.app)
    paper = tmp_path / "brief.docx"
    paper.write_bytes(docx_with_placeholders())
    zone = console.app.state.settings.zone
    at = (console.clock.now + timedelta(minutes=2)).astimezone(zone)
    check = Checker()
    sync_api = playwright_api()
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(bypass_csp=True).new_page()
        sign_in(page, site, "editor@example.org")

        page.get_by_role("link", name="Briefings").click()
        check(page, "1-briefings")
        page.get_by_label("The paper").set_input_files(str(paper))
        page.get_by_role("button", name="Upload and import").click()
        expect(page.get_by_role("status").first).to_contain_text("2 link(s) to fill in")
        expect(page.locator("#lint")).to_contain_text("2 error(s)")
        check(page, "2-briefing-with-placeholders")
        for text in PLACEHOLDERS:
            page.get_by_label(f"Address for “{text}”").fill(REAL[text])
        page.get_by_role("button", name="Fill in these links").click()
        expect(page.locator("#lint")).to_contain_text("Lint clean")
        check(page, "3-briefing-clean")

        page.get_by_role("link", name="Preview and test send").click()
        expect(page.locator("#clipping")).to_contain_text("fits")
        for frame in ("iframe.desktop >> nth=0", "iframe.phone"):
            expect(page.frame_locator(frame).locator("body")).to_contain_text("Exports rose")
        web = page.frame_locator("iframe.desktop >> nth=1").locator("body")
        expect(web).to_contain_text("Air defence leads the rise")
        check(page, "4-preview")
        page.emulate_media(color_scheme="dark")
        page.set_viewport_size({"width": 375, "height": 900})
        page.screenshot(path=str(SHOTS / "4-preview-dark-375.png"), full_page=True)
        check.problems["4-preview-dark"] = [f"dark {v}" for v in violations(page)]
        # Frames off screen are not painted in a full-page shot: each one on its own.
        page.locator("iframe.phone").screenshot(path=str(SHOTS / "4-email-phone-dark.png"))
        page.emulate_media(color_scheme="light")
        page.locator("iframe.phone").screenshot(path=str(SHOTS / "4-email-phone.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        page.locator("iframe.desktop").first.screenshot(path=str(SHOTS / "4-email-desktop.png"))
        page.locator("iframe.desktop").last.screenshot(path=str(SHOTS / "4-web-page.png"))
        page.get_by_label("Staff addresses").fill("editor@example.org")
        page.get_by_role("button", name="Send test copy").click()
        expect(page.get_by_role("status").first).to_contain_text(
            "Test copy sent to editor@example.org"
        )
        assert [m["To"] for m in outbox(console.app)] == ["editor@example.org"]

        page.get_by_role("link", name="Back to the briefing").click()
        page.get_by_role("link", name="Send or schedule").click()
        page.get_by_label("List", exact=True).select_option(label="Ukraine")
        expect(page.locator("#audience")).to_contain_text("2 readers of Ukraine")
        check(page, "5-campaign-form")
        page.get_by_label("At a time").check()
        page.get_by_label("Date and time").fill(at.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#state")).to_contain_text(
            f"Scheduled for {at.strftime('%Y-%m-%d %H:%M %Z')}."
        )
        expect(page.locator("#status")).to_have_text("scheduled")
        check(page, "6-campaign-scheduled")
        campaign_url = page.url.split("?")[0]

        page.get_by_role("button", name="Send now instead").click()
        expect(page.get_by_role("heading", name="Send now?")).to_be_visible()
        expect(page.locator(".notice")).to_contain_text("goes now to 2 readers of Ukraine")
        check(page, "7-confirm")
        page.get_by_role("button", name="Send to 2 readers now").click()
        expect(page.locator("#state")).to_contain_text("Sending now.")
        expect(page.get_by_role("button", name="Pause")).to_be_visible()

        send_due(console.app, int(campaign_url.rsplit("/", 1)[1]))
        expect(page.locator("#status")).to_have_text("finished")  # htmx polling saw it
        expect(page.locator("#count-sent")).to_have_text("2")
        # The sentence and the buttons came with the poll: nothing offers to change a sent one.
        expect(page.locator("#state")).to_contain_text("Finished")
        expect(page.get_by_text("Sending now.")).to_have_count(0)
        for gone in ("Send now instead", "Pause", "Cancel the rest"):
            expect(page.get_by_role("button", name=gone)).to_have_count(0)
        check(page, "8-campaign-finished")
        page.get_by_role("link", name="See the report").click()
        expect(page.locator("#count-sent")).to_have_text("2")
        expect(page.locator("#total")).to_have_text("2")
        check(page, "9-report")

        viewer = browser.new_context(bypass_csp=True).new_page()
        sign_in(viewer, site, "viewer@example.org")
        viewer.goto(campaign_url)
        expect(viewer.locator("#status")).to_have_text("finished")
        viewer.goto(f"{site}/admin/briefings/1")
        expect(viewer.get_by_role("link", name="Send or schedule")).to_have_count(0)
        answer = viewer.goto(f"{site}/admin/briefings/1/campaign")
        assert answer is not None and answer.status == 403
        browser.close()

    readers = sorted(m["To"] for m in outbox(console.app) if m["To"] != "editor@example.org")
    assert readers == ["Ana <ana@example.net>", "Ben <ben@example.net>"]
    assert not {step: found for step, found in check.problems.items() if found}, check.problems
    assert len(check.problems) == 10  # every step was checked
