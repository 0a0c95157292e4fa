"""A reader's copy in real Chromium, under the app's own strict policy: ticking a topic in the
preview's form shows that reader's copy ("Your topics" first) in the frames and the plain
text, and the preview and the part form (with its topic checkboxes) are axe-clean at phone
and desktop width. Screenshots go to var/screenshots/console-parts/ (not committed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsletter.briefing import store
from newsletter.database import transaction
from newsletter.staff.models import Role
from subscribers import consent, people, topics
from tests.console.conftest import Console
from tests.console.test_parts_browser import add_briefing, axe_at_each_width, sign_in
from tests.local import CHROMIUM, CHROMIUM_ARGS, free_port, playwright_api, serving

pytestmark = pytest.mark.browser
SECOND = "## 2. Reports arrive later every year\n"


@pytest.fixture
def site(console: Console) -> Iterator[str]:
    port = free_port()
    with serving(console.app, port):
        yield f"http://127.0.0.1:{port}"


def test_ticking_a_topic_previews_that_readers_copy(console: Console, site: str) -> None:
    console.add_staff("editor@example.org", Role.EDITOR)
    briefing_id = add_briefing(console)
    with transaction(console.app.state.sessions) as session:
        topics.create(session, "Air defence")
        topics.create(session, "Transparency")
        people.add(session, "ana@example.net", consent.Context(form="test"), topics=["Climate"])
        text = store.current(session, briefing_id).source
        text = text.replace(SECOND, SECOND + "\nTopics: Transparency\n", 1)
        store.save(session, briefing_id, text, "editor@example.org", "topics")
    url = f"{site}/admin/briefings/{briefing_id}/preview"
    sync_api = playwright_api()
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        sign_in(page, site)
        page.goto(url)
        phone = page.frame_locator("iframe.phone").locator("body")
        expect(phone).to_contain_text("Reports arrive later every year")
        expect(phone).not_to_contain_text("Your topics")
        page.get_by_role("group", name="Preview as a reader with topics").get_by_label(
            "Transparency"
        ).check()
        page.get_by_role("button", name="Show this copy").click()
        expect(page.locator("#copy-note")).to_contain_text("section 2 first")
        expect(page.frame_locator("iframe.phone").locator("body")).to_contain_text("Your topics")
        expect(page.frame_locator("iframe.desktop").first.locator("body")).to_contain_text(
            "Your topics"
        )
        expect(page.get_by_label("Plain text part")).to_contain_text("Your topics")
        # The test send's boxes follow the copy shown.
        expect(
            page.get_by_role("group", name="Send the copy of a reader who follows").get_by_label(
                "Transparency"
            )
        ).to_be_checked()
        assert refused == [], refused

        checked = browser.new_context(bypass_csp=True).new_page()  # axe is an inline script
        sign_in(checked, site)
        checked.goto(f"{url}?topic=Transparency")
        expect(checked.frame_locator("iframe.phone").locator("body")).to_contain_text("Your topics")
        problems = {"preview of a reader's copy": axe_at_each_width(checked, "4-reader-copy")}
        checked.goto(f"{url}?reader=nobody%40example.net")
        expect(checked.locator("#copy-note")).to_contain_text("Nobody with the address")
        problems["preview, unknown reader"] = axe_at_each_width(checked, "5-unknown-reader")
        checked.goto(f"{site}/admin/briefings/{briefing_id}/parts")
        boxes = checked.get_by_role("group", name="Section 2 topics")
        expect(boxes.get_by_label("Transparency")).to_be_checked()
        boxes.get_by_label("Air defence").check()  # the live preview follows the ticks
        expect(checked.frame_locator("iframe.live").locator("body")).to_contain_text("Exports")
        problems["parts page with topics"] = axe_at_each_width(checked, "6-parts-topics")
        browser.close()
    assert not {k: v for k, v in problems.items() if v}, problems
