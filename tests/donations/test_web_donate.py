"""The donate pages as a browser-less client sees them, against the fake Stripe."""

from __future__ import annotations

import base64
import json
import mailbox
import re
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from newsletter import links, tokens
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.donations.gateway import CheckoutSession, PaymentProviderError
from newsletter.donations.models import DonationIntent, RecurringGift
from newsletter.donations.states import IntentStatus
from newsletter.web import services
from newsletter.web.app import create_app
from newsletter.web.donate import MANAGE
from subscribers.models import Subscriber
from tests.donations.conftest import db_sessions, post_event
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import gifts

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form(client: TestClient, url: str = "/donate") -> str:
    page = client.get(url)
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def _subscriber(client: TestClient, email: str = "reader@example.org") -> int:
    with transaction(db_sessions(client)) as session:
        person = Subscriber(email=email, email_key=email.lower(), name="Reader", status="active")
        session.add(person)
        session.flush()
        return person.id


def test_button_link_to_checkout_with_attribution(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    reader = _subscriber(client)
    donate = links.recipient_links(
        stripe_settings, subscriber_id=reader, campaign_id=41, briefing_slug="112-foreign-ministers"
    ).donate
    query = {k: v[0] for k, v in parse_qs(urlsplit(donate).query).items()}
    page = client.get("/donate", params={**query, "amount": "25", "frequency": "monthly"})
    assert 'value="monthly" checked' in page.text and 'value="25" checked' in page.text
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    answer = client.post(
        "/donate",
        data={
            "csrf_token": token,
            "amount": "25",
            "frequency": "monthly",
            "t": query["t"],
            "c": query["c"],
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    sid = answer.headers["location"].rsplit("/", 1)[1]
    assert answer.headers["location"] == f"{fake_stripe.url}/c/pay/{sid}"
    stripe_session = fake_stripe.sessions[sid]
    assert stripe_session["mode"] == "subscription" and stripe_session["amount_total"] == 2500
    assert stripe_session["metadata"]["campaign"] == "41"
    assert stripe_session["metadata"]["subscriber"] == str(reader)
    assert stripe_session["customer_email"] == "reader@example.org"
    with db_sessions(client)() as session:
        intent = session.scalar(select(DonationIntent))
        assert intent is not None
        assert (intent.campaign_id, intent.subscriber_id, intent.status) == (
            41,
            reader,
            IntentStatus.OPEN,
        )


def test_forged_token_still_donates_without_attribution(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    token = _form(client)
    answer = client.post(
        "/donate",
        data={
            "csrf_token": token,
            "amount": "other",
            "other_amount": "12.50",
            "frequency": "once",
            "t": "forged.token",
            "c": "41",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    stripe_session = fake_stripe.sessions[answer.headers["location"].rsplit("/", 1)[1]]
    assert stripe_session["amount_total"] == 1250 and stripe_session["submit_type"] == "donate"
    assert set(stripe_session["metadata"]) == {"intent"}


def test_csrf_and_amount_checks(client: TestClient) -> None:
    token = _form(client)
    no_csrf = client.post("/donate", data={"amount": "25", "frequency": "once"})
    assert no_csrf.status_code == 400
    for amount, message in (
        ("0.50", "smallest gift we can take is £1"),
        ("20000", "largest gift"),
        ("ten", "as a number"),
        ("1e30", "smaller amount"),
        ("1" * 30, "smaller amount"),
    ):
        answer = client.post(
            "/donate",
            data={
                "csrf_token": token,
                "amount": "other",
                "other_amount": amount,
                "frequency": "once",
            },
        )
        assert answer.status_code == 400 and message in answer.text
    with db_sessions(client)() as session:
        assert session.scalar(select(DonationIntent)) is None
    # a link with an absurd amount still shows the form, without that amount
    for absurd in ("1e30", "9" * 30):
        page = client.get("/donate", params={"amount": absurd})
        assert page.status_code == 200 and absurd not in page.text


def test_yen_has_no_minor_unit(stripe_settings: Settings, fake_stripe: FakeStripe) -> None:
    settings = stripe_settings.model_copy(
        update={"currency": "jpy", "donation_min": Decimal(100), "donation_presets": "1000,3000"}
    )
    with TestClient(create_app(settings), base_url="https://news.example.org") as client:
        page = client.get("/donate")
        assert "¥1,000" in page.text and 'step="1"' in page.text
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        fraction = client.post(
            "/donate",
            data={
                "csrf_token": token,
                "amount": "other",
                "other_amount": "1500.5",
                "frequency": "once",
            },
        )
        assert fraction.status_code == 400 and "whole amounts" in fraction.text
        ok = client.post(
            "/donate",
            data={"csrf_token": token, "amount": "3000", "frequency": "once"},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        stripe_session = fake_stripe.sessions[ok.headers["location"].rsplit("/", 1)[1]]
        assert (stripe_session["currency"], stripe_session["amount_total"]) == ("jpy", 3000)


def test_without_stripe_keys_the_page_explains_and_post_does_not_crash(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://news.example.org") as client:
        page = client.get("/donate")
        assert page.status_code == 200 and "Giving online is not available yet." in page.text
        # visitors see no setting names, no form to fill in for nothing
        assert "NEWSLETTER_" not in page.text and "whsec" not in page.text
        assert "<form" not in page.text
        answer = client.post("/donate", data={"amount": "25", "frequency": "once"})
        assert answer.status_code == 503 and "not available yet" in answer.text
        assert client.post("/stripe/webhook", content=b"{}").status_code == 503


def test_thanks_page_reads_stripe_but_records_nothing(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    token = _form(client)
    answer = client.post(
        "/donate",
        data={"csrf_token": token, "amount": "50", "frequency": "once"},
        follow_redirects=False,
    )
    sid = answer.headers["location"].rsplit("/", 1)[1]
    fake_stripe.pay(sid, email="kim@example.net")
    thanks = client.get("/donate/thanks", params={"session_id": sid})
    assert thanks.status_code == 200 and "£50" in thanks.text and "kim@example.net" in thanks.text
    assert gifts(db_sessions(client)) == []
    unknown = client.get("/donate/thanks", params={"session_id": "cs_test_nope"})
    assert unknown.status_code == 200 and "£" not in unknown.text


class StripeDown:
    """A gateway whose every call fails, as when Stripe cannot be reached."""

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        raise PaymentProviderError("Stripe could not be reached")

    def create_portal_session(self, customer: str, return_url: str) -> str:
        raise PaymentProviderError("Stripe could not be reached")


def test_stripe_being_down_shows_a_plain_thanks_and_an_error_for_the_portal(
    client: TestClient,
) -> None:
    client.app.dependency_overrides[services.stripe_gateway] = StripeDown  # type: ignore[attr-defined]
    thanks = client.get("/donate/thanks", params={"session_id": "cs_test_1"})
    assert thanks.status_code == 200 and "£" not in thanks.text
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    link = tokens.sign(settings.secret, MANAGE, {"cus": "cus_1"})
    token = _form(client, f"/donate/manage/{link}")
    portal = client.post(
        f"/donate/manage/{link}", data={"csrf_token": token}, follow_redirects=False
    )
    assert portal.status_code == 502 and "could not be reached" in portal.text


def test_card_testing_is_rate_limited(client: TestClient) -> None:
    token = _form(client)
    codes = [
        client.post(
            "/donate",
            data={
                "csrf_token": token,
                "amount": "other",
                "other_amount": "0.1",
                "frequency": "once",
            },
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [400] * 10 and codes[10] == 429


def _portal_requests(fake_stripe: FakeStripe) -> int:
    return sum(1 for _, path, _ in fake_stripe.requests if "billing_portal" in path)


def _monthly_donor(client: TestClient, fake_stripe: FakeStripe) -> str:
    """A monthly gift paid through Checkout and recorded by the webhook; its customer ID."""
    token = _form(client)
    answer = client.post(
        "/donate",
        data={"csrf_token": token, "amount": "10", "frequency": "monthly"},
        follow_redirects=False,
    )
    session = fake_stripe.pay(answer.headers["location"].rsplit("/", 1)[1], email="Mo@Example.org")
    assert (
        post_event(client, fake_stripe.event("checkout.session.completed", session)).status_code
        == 200
    )
    customer: str = session["customer"]
    return customer


def test_manage_link_opens_the_billing_portal_only_from_the_button(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    customer = _monthly_donor(client, fake_stripe)
    with db_sessions(client)() as s:
        assert s.scalar(select(RecurringGift.customer_id)) == customer
    outbox = mailbox.Maildir(str(stripe_settings.outbox_dir), create=True)
    token = _form(client, "/donate/manage")
    for email in ("mo@example.org", "stranger@example.org"):
        sent = client.post("/donate/manage", data={"csrf_token": token, "email": email})
        assert sent.status_code == 200 and "If a monthly gift is registered" in sent.text
    messages = [m for m in outbox if m["Subject"] == "Manage your monthly gift"]
    assert len(messages) == 1 and messages[0]["To"] == "mo@example.org"
    body = messages[0].get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index,union-attr]
    link = re.search(r"https://news\.example\.org/donate/manage/\S+", body).group(0)  # type: ignore[union-attr]
    path = link.removeprefix("https://news.example.org")

    before = _portal_requests(fake_stripe)
    for _ in range(2):  # a mail scanner, then the donor: GET only shows the button
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    assert _portal_requests(fake_stripe) == before
    form = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert form and form.group(1) == path
    assert '<button type="submit">Manage my monthly gift</button>' in page.text
    csrf_token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]

    portal = client.post(path, data={"csrf_token": csrf_token}, follow_redirects=False)
    assert portal.status_code == 303
    assert portal.headers["location"].startswith(f"{fake_stripe.url}/p/session/")
    assert _portal_requests(fake_stripe) == before + 1
    assert fake_stripe.requests[-1][2]["customer"] == customer


def test_manage_button_needs_the_forms_csrf_token(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    customer = _monthly_donor(client, fake_stripe)
    path = "/donate/manage/" + tokens.sign(stripe_settings.secret, MANAGE, {"cus": customer})
    assert client.get(path).status_code == 200  # the browser now has a CSRF cookie
    before = _portal_requests(fake_stripe)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "0" * 64}):
        refused = client.post(path, data=data, follow_redirects=False)
        assert refused.status_code == 400 and "form has expired" in refused.text
    assert _portal_requests(fake_stripe) == before


def _with_body(token: str, payload: dict[str, object]) -> str:
    """``token``'s signature on another payload: what someone guessing a customer would try."""
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{body}.{token.split('.', 1)[1]}"


def test_manage_links_that_are_forged_expired_or_for_something_else(
    client: TestClient, stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    customer = _monthly_donor(client, fake_stripe)
    secret = stripe_settings.secret
    real = tokens.sign(secret, MANAGE, {"cus": customer})
    bad = {
        "forged": "forged.token",
        "another customer": _with_body(real, {"cus": "cus_someone_else", "iat": int(time.time())}),
        "other key": tokens.sign(b"not-our-secret", MANAGE, {"cus": customer}),
        "expired": tokens.sign(secret, MANAGE, {"cus": customer}, now=time.time() - 2 * 3600),
        "other purpose": tokens.sign(secret, links.PREFERENCES, {"cus": customer}),
        "no customer": tokens.sign(secret, MANAGE, {"s": 1}),
    }
    csrf_token = _form(client, "/donate/manage")
    before = _portal_requests(fake_stripe)
    for why, token in bad.items():
        page = client.get(f"/donate/manage/{token}", follow_redirects=False)
        assert page.status_code == 400 and "Link not valid" in page.text, why
        assert "<form" not in page.text, why
        post = client.post(
            f"/donate/manage/{token}", data={"csrf_token": csrf_token}, follow_redirects=False
        )
        assert post.status_code == 400 and "Link not valid" in post.text, why
    assert _portal_requests(fake_stripe) == before


def test_live_key_rejects_test_events(stripe_settings: Settings, fake_stripe: FakeStripe) -> None:
    settings = stripe_settings.model_copy(update={"stripe_secret_key": SecretStr("sk_live_xyz")})
    with TestClient(create_app(settings)) as client:
        event = fake_stripe.event("invoice.paid", {"id": "in_live", "object": "invoice"})
        assert post_event(client, event).status_code == 400


def test_gift_aid_declaration_and_covering_the_fee(
    stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    settings = stripe_settings.model_copy(update={"gift_aid": True, "cover_fees": True})
    with TestClient(create_app(settings), base_url="https://news.example.org") as client:
        page = client.get("/donate")
        assert settings.gift_aid_wording in page.text and "cover the card fee" in page.text
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        form = {
            "csrf_token": token,
            "amount": "20",
            "frequency": "once",
            "gift_aid": "1",
            "gift_aid_name": "Ann Smith",
            "gift_aid_address": "1 High St, Leeds",
        }
        incomplete = client.post("/donate", data=form)
        assert incomplete.status_code == 400 and "postcode" in incomplete.text
        complete = client.post(
            "/donate",
            data=form | {"gift_aid_postcode": "ls1 1aa", "cover_fees": "1"},
            follow_redirects=False,
        )
        assert complete.status_code == 303
        stripe_session = fake_stripe.sessions[complete.headers["location"].rsplit("/", 1)[1]]
        with db_sessions(client)() as session:
            intent = session.scalar(select(DonationIntent))
            assert intent is not None and intent.gift_aid and intent.gift_aid_postcode == "LS1 1AA"
            assert intent.gift_aid_wording == settings.gift_aid_wording
            assert intent.gift_aid_version == settings.gift_aid_version
            # 20.00 + fee: what is left after 1.5% + 20p is still at least 20.00.
            assert intent.fee_minor > 0
            assert stripe_session["amount_total"] == 2000 + intent.fee_minor


def test_a_typed_amount_wins_over_a_preset_without_any_script(
    client: TestClient, fake_stripe: FakeStripe
) -> None:
    token = _form(client)
    charged = []
    for preset, typed in (("25", "40"), ("25", " "), ("other", "12"), ("", "30")):
        answer = client.post(
            "/donate",
            data={"csrf_token": token, "amount": preset, "other_amount": typed},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        charged.append(fake_stripe.sessions[answer.headers["location"].rsplit("/", 1)[1]])
    assert [s["amount_total"] for s in charged] == [4000, 2500, 1200, 3000]


def test_an_error_shows_the_form_again_as_entered(
    stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    settings = stripe_settings.model_copy(update={"gift_aid": True, "cover_fees": True})
    with TestClient(create_app(settings), base_url="https://news.example.org") as client:
        token = _form(client)
        answer = client.post(
            "/donate",
            data={
                "csrf_token": token,
                "amount": "50",
                "other_amount": "0.20",
                "frequency": "monthly",
                "cover_fees": "1",
                "gift_aid": "1",
                "gift_aid_name": "Ann <Smith>",
                "gift_aid_address": "1 High St\nLeeds",
                "gift_aid_postcode": "LS1 1AA",
                "note": "keep going",
            },
        )
    assert answer.status_code == 400 and "smallest gift" in answer.text
    page = answer.text
    assert 'name="cover_fees" value="1" checked' in page
    assert 'name="gift_aid" value="1" checked' in page
    assert 'value="Ann &lt;Smith&gt;"' in page and ">1 High St\nLeeds</textarea>" in page
    assert 'value="LS1 1AA"' in page and ">keep going</textarea>" in page
    assert 'value="monthly" checked' in page and 'value="other" checked' in page
    assert 'value="0.20"' in page and 'value="50" checked' not in page
