"""The console in real Chromium, as a fundraising officer uses it: sign in with a second
factor, find a reader, change their topics, import a file, erase someone, read the trail.
Every page is checked with axe-core at phone and desktop width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from newsletter.database import transaction
from newsletter.staff import accounts
from newsletter.staff.models import Role
from subscribers import consent, lists, people
from tests.axe import scrolls_sideways, violations
from tests.console.conftest import PASSWORD, Console
from tests.local import CHROMIUM, CHROMIUM_ARGS, free_port, playwright_api, serving

pytestmark = pytest.mark.browser
WIDTHS = (375, 1280)


@pytest.fixture
def site(console: Console) -> Iterator[str]:
    port = free_port()
    with serving(console.app, port):
        yield f"http://127.0.0.1:{port}"


def _check_page(page: Any, checked: dict[str, list[str]]) -> None:
    """axe and sideways scrolling at each width, once per distinct page."""
    key = page.url.split("?")[0].rstrip("0123456789")
    if key in checked:
        return
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        problems += [f"{width}px {v}" for v in violations(page)]
        if scrolls_sideways(page):
            problems.append(f"{width}px: the page scrolls sideways")
    checked[key] = problems


def test_an_officer_works_through_the_console(console: Console, site: str, tmp_path: Path) -> None:
    secret = pyotp.random_base32()
    with transaction(console.app.state.sessions) as session:
        owner = accounts.add(session, "owner@example.org", Role.OWNER, name="Olu")
        accounts.set_password(session, owner, PASSWORD, organisation="")
        owner.totp_secret = secret
        editor = accounts.add(session, "editor@example.org", Role.EDITOR)
        accounts.set_password(session, editor, PASSWORD, organisation="")
        lists.create(session, "Ukraine")
        lists.create(session, "Nuclear weapons")
        people.add(
            session,
            "reader@example.org",
            consent.Context(form="test"),
            name="Rea Der",
            topics=["Ukraine"],
        )
    upload = tmp_path / "readers.csv"
    upload.write_text("email,name\nnew.reader@example.org,New Reader\n")
    checked: dict[str, list[str]] = {}
    sync_api = playwright_api()
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(bypass_csp=True).new_page()

        page.goto(f"{site}/admin/subscribers")
        expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
        _check_page(page, checked)
        page.get_by_label("Email address").fill("owner@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Enter the code")).to_be_visible()
        _check_page(page, checked)
        page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(console.clock.now))
        page.get_by_role("button", name="Continue").click()

        expect(page.get_by_role("heading", name="Subscribers")).to_be_visible()
        _check_page(page, checked)
        page.get_by_label("Address or name").fill("rea")
        expect(page.get_by_role("link", name="reader@example.org")).to_be_visible()
        page.get_by_role("link", name="reader@example.org").click()
        _check_page(page, checked)
        page.get_by_label("Ukraine").uncheck()
        page.get_by_label("Nuclear weapons").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Saved.")
        expect(page.get_by_label("Nuclear weapons")).to_be_checked()

        page.goto(f"{site}/admin/subscribers/import")
        _check_page(page, checked)
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_label("How did they agree").fill("Signed up at our conference")
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_label("name", exact=True)).to_have_value("name")
        page.get_by_role("button", name="Check the file").click()
        expect(page.get_by_role("heading", name="nothing is changed yet")).to_be_visible()
        _check_page(page, checked)
        page.get_by_role("button", name="Import these people").click()
        expect(page.get_by_role("heading", name="Import complete")).to_be_visible()

        for path in ("/admin", "/admin/gifts", "/admin/account", "/admin/staff", "/admin/settings"):
            page.goto(f"{site}{path}")
            _check_page(page, checked)

        page.goto(f"{site}/admin/subscribers?q=new.reader")
        page.get_by_role("link", name="new.reader@example.org").click()
        page.get_by_label("Their address").fill("new.reader@example.org")
        page.get_by_role("button", name="Erase for good").click()
        expect(page.get_by_role("status")).to_contain_text("Erased subscriber")

        page.goto(f"{site}/admin/audit")
        _check_page(page, checked)
        trail = page.locator("table").inner_text()
        for action in (
            "staff.sign-in",
            "subscriber.edit",
            "subscribers.import",
            "subscriber.erase",
        ):
            assert action in trail, action

        editor_page = browser.new_context(bypass_csp=True).new_page()
        editor_page.goto(f"{site}/admin/sign-in")
        editor_page.get_by_label("Email address").fill("editor@example.org")
        editor_page.get_by_label("Password").fill(PASSWORD)
        editor_page.get_by_role("button", name="Sign in").click()
        editor_page.goto(f"{site}/admin/subscribers?q=reader@")
        editor_page.get_by_role("link", name="reader@example.org").click()
        expect(editor_page.get_by_role("button", name="Erase for good")).to_have_count(0)
        browser.close()

    problems = {page: found for page, found in checked.items() if found}
    assert not problems, problems
    assert len(checked) >= 11
