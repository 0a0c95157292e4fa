"""Through real Chromium without JavaScript: the emailed "manage my gift" link and its button."""

from __future__ import annotations

import re
import secrets

import pytest

from newsletter import tokens
from newsletter.config import Settings
from newsletter.web.donate import MANAGE
from tests.donations.fake_stripe import FakeStripe
from tests.local import CHROMIUM, playwright_api
from tests.local import CHROMIUM_ARGS as ARGS


@pytest.mark.browser
def test_the_link_shows_a_button_that_opens_the_portal(
    served: Settings, fake_stripe: FakeStripe
) -> None:
    sync_api = playwright_api()
    customer = "cus_" + secrets.token_hex(7)  # a donor who has paid through Checkout
    fake_stripe.customers.add(customer)
    link = f"{served.public_base_url}/donate/manage/"
    link += tokens.sign(served.secret, MANAGE, {"cus": customer})
    portals = sum(1 for _, path, _ in fake_stripe.requests if "billing_portal" in path)

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(java_script_enabled=False)  # the page must not need it
        page.goto(link)
        assert page.get_by_role("heading", level=1).inner_text() == "Manage your monthly gift"
        assert page.url == link  # opening the link went nowhere else
        assert sum(1 for _, p, _ in fake_stripe.requests if "billing_portal" in p) == portals
        page.get_by_role("button", name="Manage my monthly gift").click()
        page.wait_for_url(re.compile(re.escape(fake_stripe.url) + r"/p/session/bps_\w+"))
        browser.close()
    assert sum(1 for _, p, _ in fake_stripe.requests if "billing_portal" in p) == portals + 1
    assert fake_stripe.requests[-1][2]["customer"] == customer
