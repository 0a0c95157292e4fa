"""The import's mapping step in real Chromium: a German-headed file (E-Mail, Vorname) is
mapped by choosing from each column's list, checked, imported while the page follows the
progress; every step passes axe-core at phone and desktop width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.database import transaction
from newsletter.staff import accounts
from newsletter.staff.models import Role
from subscribers import people
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


def _problems(page: Any) -> list[str]:
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        found += [f"{width}px {v}" for v in violations(page)]
        if scrolls_sideways(page):
            found.append(f"{width}px: the page scrolls sideways")
    return found


def test_a_german_file_is_mapped_checked_and_imported(
    console: Console, site: str, tmp_path: Path
) -> None:
    with transaction(console.app.state.sessions) as session:
        editor = accounts.add(session, "editor@example.org", Role.EDITOR)
        accounts.set_password(session, editor, PASSWORD, organisation="")
    upload = tmp_path / "kontakte.csv"
    upload.write_text(
        "E-Mail;Vorname;Nachname;Firma\n"
        "juergen@example.org;Jürgen;Müller;Stiftung Nord\n"
        "anna@example.org;Anna;Schmidt;\n",
        encoding="utf-8",
    )
    steps: dict[str, list[str]] = {}
    sync_api = playwright_api()
    expect = sync_api.expect
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(bypass_csp=True).new_page()
        page.goto(f"{site}/admin/sign-in")
        page.get_by_label("Email address").fill("editor@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{site}/admin/subscribers/import")
        steps["upload"] = _problems(page)
        page.get_by_label("CSV file").set_input_files(str(upload))
        page.get_by_label("How did they agree").fill("Signed up at our conference")
        page.get_by_role("button", name="Upload").click()

        expect(page.get_by_role("heading", name="Which column is which?")).to_be_visible()
        expect(
            page.get_by_role("cell", name="juergen@example.org, anna@example.org")
        ).to_be_visible()
        expect(page.get_by_label("E-Mail")).to_have_value("email")  # recognised by its name
        expect(page.get_by_label("Vorname")).to_have_value("ignore")  # not recognised
        steps["map"] = _problems(page)
        page.get_by_label("Vorname").select_option(label="First name")
        page.get_by_label("Nachname").select_option(label="Last name")
        page.get_by_role("button", name="Check the file").click()

        expect(page.get_by_role("heading", name="nothing is changed yet")).to_be_visible()
        expect(page.locator('input[name="map"]')).to_have_value(
            "E-Mail=email,Vorname=first_name,Nachname=last_name,Firma=ignore"
        )
        steps["dry run"] = _problems(page)
        page.get_by_role("button", name="Import these people").click()

        expect(page.get_by_role("heading", name="Import complete")).to_be_visible()  # polled
        expect(page.get_by_role("progressbar", name="Share of the file read")).to_have_attribute(
            "value", "100"
        )
        steps["imported"] = _problems(page)
        browser.close()

    assert not {step: found for step, found in steps.items() if found}
    with transaction(console.app.state.sessions) as session:
        person = people.find(session, "juergen@example.org")
        assert person is not None and person.name == "Jürgen Müller"
