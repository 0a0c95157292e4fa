"""Through real Chromium: the amount the donor typed is the amount Checkout charges, and a
form error gives the donor back everything they entered."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from newsletter.config import Settings
from newsletter.web.app import create_app
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET
from tests.donations.fake_stripe import FakeStripe
from tests.local import CHROMIUM, free_port, playwright_api, serving
from tests.local import CHROMIUM_ARGS as ARGS


@pytest.fixture
def giving(settings: Settings, fake_stripe: FakeStripe) -> Iterator[Settings]:
    """The app under uvicorn with Gift Aid and fee cover offered, talking to the fake Stripe."""
    port = free_port()
    settings = settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{port}",
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake_stripe.url,
            "gift_aid": True,
            "cover_fees": True,
        }
    )
    with serving(create_app(settings), port):
        yield settings


@pytest.mark.browser
def test_typed_amount_wins_over_the_clicked_preset(
    giving: Settings, fake_stripe: FakeStripe
) -> None:
    sync_api = playwright_api()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 800})  # a phone
        page.goto(f"{giving.public_base_url}/donate")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.get_by_label("£25").check()
        page.get_by_role("spinbutton", name="Other amount").fill("40")
        # the page agrees with what will be charged
        assert page.get_by_role("radio", name="Other amount").is_checked()
        assert not page.get_by_label("£25").is_checked()
        page.get_by_role("button", name="Continue to secure payment").click()
        page.wait_for_url(re.compile(re.escape(fake_stripe.url) + r"/c/pay/cs_test_\w+"))
        session_id = page.url.rsplit("/", 1)[1]
        browser.close()
    assert fake_stripe.sessions[session_id]["amount_total"] == 4000


@pytest.mark.browser
def test_a_form_error_keeps_the_boxes_and_the_address(
    giving: Settings, fake_stripe: FakeStripe
) -> None:
    sync_api = playwright_api()
    opened = len(fake_stripe.sessions)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{giving.public_base_url}/donate")
        page.get_by_label("Monthly gift").check()
        page.get_by_role("spinbutton", name="Other amount").fill("7.50")
        page.get_by_label("Add a little to cover the card fee", exact=False).check()
        page.get_by_label(giving.gift_aid_wording).check()
        page.get_by_label("Full name").fill("Ann Smith")
        page.get_by_label("Home address").fill("1 High Street\nLeeds")
        page.get_by_label("A note for us (optional)").fill("For the Sahel paper")
        # no postcode: Gift Aid cannot be claimed without it
        page.get_by_role("button", name="Continue to secure payment").click()
        page.wait_for_selector("#donate-error")
        assert "postcode" in page.locator("#donate-error").inner_text()
        assert page.get_by_label("Monthly gift").is_checked()
        assert page.get_by_role("radio", name="Other amount").is_checked()
        assert page.get_by_role("spinbutton", name="Other amount").input_value() == "7.50"
        assert page.get_by_label("Add a little to cover the card fee", exact=False).is_checked()
        assert page.get_by_label(giving.gift_aid_wording).is_checked()
        assert page.get_by_label("Full name").input_value() == "Ann Smith"
        assert page.get_by_label("Home address").input_value() == "1 High Street\nLeeds"
        assert page.get_by_label("A note for us (optional)").input_value() == "For the Sahel paper"
        # filling in the one missing field is then enough
        page.get_by_label("Postcode").fill("LS1 1AA")
        page.get_by_role("button", name="Continue to secure payment").click()
        page.wait_for_url(re.compile(re.escape(fake_stripe.url) + r"/c/pay/cs_test_\w+"))
        session_id = page.url.rsplit("/", 1)[1]
        browser.close()
    assert len(fake_stripe.sessions) == opened + 1
    assert fake_stripe.sessions[session_id]["mode"] == "subscription"
    assert fake_stripe.sessions[session_id]["amount_total"] > 750  # the fee on top


@pytest.mark.browser
def test_unconfigured_page_fits_a_phone(settings: Settings) -> None:
    sync_api = playwright_api()
    port = free_port()
    bare = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
    with serving(create_app(bare), port), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.goto(f"{bare.public_base_url}/donate")
        assert (
            page.locator("main")
            .inner_text()
            .strip()
            .endswith("Giving online is not available yet.")
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        browser.close()
