"""Through real Chromium: from the digest's "Donate now" button to a gift in the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter import links
from newsletter.briefing.markdown import load
from newsletter.cli import common
from newsletter.cli.app import app as cli
from newsletter.config import Settings
from newsletter.database import make_engine, session_factory, transaction
from newsletter.digest.personalise import Personal
from newsletter.digest.render import render_digest
from subscribers.models import Subscriber
from tests.conftest import EXAMPLE_BRIEFING
from tests.donations.conftest import WEBHOOK_SECRET
from tests.donations.fake_stripe import FakeStripe, sign
from tests.local import CHROMIUM, playwright_api
from tests.local import CHROMIUM_ARGS as ARGS

CAMPAIGN = 112


@pytest.mark.browser
def test_donate_now_from_the_digest_to_the_report(
    served: Settings, fake_stripe: FakeStripe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_api = playwright_api()
    sessions = session_factory(make_engine(served.database_url))
    with transaction(sessions) as session:
        reader = Subscriber(
            email="reader@example.org",
            email_key="reader@example.org",
            name="Reader",
            status="active",
        )
        session.add(reader)
        session.flush()
        reader_id = reader.id
    briefing = load(EXAMPLE_BRIEFING)
    digest = render_digest(briefing, served)
    person = Personal(
        "Reader",
        "reader@example.org",
        links.recipient_links(
            served, subscriber_id=reader_id, campaign_id=CAMPAIGN, briefing_slug=digest.slug
        ),
    )
    html, _ = digest.personalise(person)
    email_file = tmp_path / "digest.html"
    email_file.write_text(html, encoding="utf-8")

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(email_file.as_uri())
        with page.expect_popup() as opened:  # email links open a new tab (target=_blank)
            page.get_by_role("link", name="Donate now").first.click()
        page = opened.value
        page.wait_for_load_state()
        assert page.url.startswith(f"{served.public_base_url}/donate?")
        page.get_by_label("Monthly gift").check()
        page.get_by_label("One-time gift").check()
        page.get_by_label("£50").check()
        page.get_by_role("button", name="Continue to secure payment").click()
        page.wait_for_url(re.compile(re.escape(fake_stripe.url) + r"/c/pay/cs_test_\w+"))
        assert page.title() == "Fake Stripe Checkout"
        session_id = page.url.rsplit("/", 1)[1]
        browser.close()

    stripe_session = fake_stripe.pay(session_id, email="Reader@Example.org", name="Reader")
    assert stripe_session["amount_total"] == 5000
    assert stripe_session["metadata"]["campaign"] == str(CAMPAIGN)
    body = json.dumps(fake_stripe.event("checkout.session.completed", stripe_session))
    answer = httpx.post(
        f"{served.public_base_url}/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)},
    )
    assert answer.status_code == 200, answer.text

    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", served.database_url)
    common.settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["donations", "report", "--campaign", str(CAMPAIGN)])
    finally:
        common.settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"#{CAMPAIGN}" in result.output and "£50" in result.output
    with sessions() as session:
        from newsletter.donations.models import Gift

        gift = session.scalar(select(Gift))
        assert gift is not None and gift.subscriber_id == reader_id
