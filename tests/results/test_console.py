"""The campaign and growth reports in the console: figures, SVG charts, data tables."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.staff.models import Role
from tests.axe import violations
from tests.console.conftest import PASSWORD, Console
from tests.console.conftest import console as console
from tests.console.conftest import signed_in as signed_in
from tests.local import CHROMIUM, CHROMIUM_ARGS, free_port, playwright_api, serving
from tests.results.seed import seeded_campaign


def test_a_viewer_reads_a_campaign_report_with_charts_and_their_figures(
    console: Console,
    signed_in: Callable[[Role], TestClient],
    engine: Engine,
    sessions: sessionmaker[Session],
) -> None:
    cid = seeded_campaign(engine, sessions)
    viewer = signed_in(Role.VIEWER)
    page = viewer.get(f"/admin/campaigns/{cid}/report")
    assert page.status_code == 200
    html = page.text
    assert html.count('role="img"') == 2
    assert '<title id="week-title">Human clicks and gifts, first 7 days</title>' in html
    assert "4 human clicks and 3 gifts in the first week" in html
    assert html.count("<details>") == 2
    # the week's table holds the same figures as the chart
    day_one = r'<th scope="row">Day 1</th><td class="num">1</td><td class="num">1</td>'
    assert re.search(day_one, html)
    assert "Read the paper" in html
    assert "No bounce mailbox is set up" in html
    assert "<script>" not in html.split("</head>", 1)[1]
    assert viewer.get("/admin/campaigns/4242/report").status_code == 404
    # person-mode clicks show on the person's page (the first reader followed link 0 twice)
    person = viewer.get("/admin/subscribers/1").text
    assert person.count(f"campaign {cid}: https://example.org/0") == 2


def test_the_growth_report_shows_months_lists_and_money(
    console: Console,
    signed_in: Callable[[Role], TestClient],
    engine: Engine,
    sessions: sessionmaker[Session],
) -> None:
    seeded_campaign(engine, sessions)
    viewer = signed_in(Role.VIEWER)
    html = viewer.get("/admin/reports/growth").text
    assert html.count('role="img"') == 2
    assert '<th scope="row">2026-11</th>' in html
    assert '<th scope="row">All briefings</th><td class="num">8</td>' in html
    assert viewer.get("/admin/reports/growth?since=2027-01-01").status_code == 200
    assert viewer.get("/admin/reports/growth?since=soon").status_code == 200


@pytest.mark.browser
def test_chromium_finds_both_reports_charts_and_data_tables(
    console: Console, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """The pages work without JavaScript; axe-core then checks both at phone and desktop width."""
    sync_api = playwright_api()
    cid = seeded_campaign(engine, sessions)
    console.add_staff("viewer@example.org", Role.VIEWER)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(console.app, port), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(java_script_enabled=False)
        page.goto(f"{base}/admin/campaigns/{cid}/report")
        page.get_by_label("Email address").fill("viewer@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{base}/admin/campaigns/{cid}/report")
        week = page.get_by_role("img", name="Human clicks and gifts, first 7 days")
        sync_api.expect(week).to_be_visible()
        table = page.get_by_role("table", name="Human clicks and gifts, first 7 days")
        sync_api.expect(table).to_be_hidden()
        page.get_by_text("Data table: Human clicks and gifts, first 7 days").click()
        sync_api.expect(table).to_be_visible()
        sync_api.expect(table.get_by_role("row")).to_have_count(8)
        page.set_viewport_size({"width": 375, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1

        page.goto(f"{base}/admin/reports/growth")
        people = page.get_by_role("img", name="Subscribers joining and leaving, per month")
        sync_api.expect(people).to_be_visible()
        page.get_by_text("Data table: Subscribers joining and leaving, per month").click()
        sync_api.expect(
            page.get_by_role("table", name="Subscribers joining and leaving, per month")
        ).to_be_visible()

        audited = browser.new_context(bypass_csp=True).new_page()  # axe is injected inline
        audited.goto(f"{base}/admin/sign-in")
        audited.get_by_label("Email address").fill("viewer@example.org")
        audited.get_by_label("Password").fill(PASSWORD)
        audited.get_by_role("button", name="Sign in").click()
        problems = []
        for path in (f"/admin/campaigns/{cid}/report", "/admin/reports/growth"):
            audited.goto(f"{base}{path}")
            for width in (375, 1280):
                audited.set_viewport_size({"width": width, "height": 800})
                problems += [f"{path} {width}px {v}" for v in violations(audited)]
        browser.close()
    assert problems == []
