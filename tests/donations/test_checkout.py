"""The real ``stripe`` library against the fake server: our parameters are what Stripe accepts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from newsletter.config import Settings
from newsletter.donations import amounts
from newsletter.donations.checkout import (
    CheckoutConfig,
    IntentFacts,
    fee_to_cover,
    idempotency_key,
    session_params,
)
from newsletter.donations.gateway import PaymentProviderError, StripeGateway
from newsletter.donations.states import Frequency
from tests.donations.conftest import SECRET_KEY
from tests.donations.fake_stripe import FakeStripe

CONFIG = CheckoutConfig(
    "https://news.example.org", "https://news.example.org/donate?cancelled=1", "NATO Watch"
)


def _gateway(fake: FakeStripe, key: str = SECRET_KEY) -> StripeGateway:
    return StripeGateway(key, api_base=fake.url, timeout=5, retries=0)


def _intent(frequency: Frequency = Frequency.ONCE, amount: int = 2500, **kw: object) -> IntentFacts:
    return IntentFacts(f"di_{frequency}_{amount}_{len(kw)}", amount, "gbp", frequency, **kw)  # type: ignore[arg-type]


def test_one_time_gift_opens_a_donate_session(fake_stripe: FakeStripe) -> None:
    intent = _intent(campaign_id=7, subscriber_id=3)
    session = _gateway(fake_stripe).create_checkout_session(
        session_params(intent, CONFIG), idempotency_key=idempotency_key(intent)
    )
    assert session.url == f"{fake_stripe.url}/c/pay/{session.id}"
    stored = fake_stripe.sessions[session.id]
    assert stored["mode"] == "payment" and stored["submit_type"] == "donate"
    assert stored["customer_creation"] == "always"
    assert stored["amount_total"] == 2500 and stored["currency"] == "gbp"
    assert stored["metadata"] == {"intent": intent.public_id, "campaign": "7", "subscriber": "3"}
    assert stored["client_reference_id"] == intent.public_id
    assert (
        stored["success_url"]
        == "https://news.example.org/donate/thanks?session_id={CHECKOUT_SESSION_ID}"
    )


def test_monthly_gift_is_a_subscription_with_a_monthly_price(fake_stripe: FakeStripe) -> None:
    intent = _intent(Frequency.MONTHLY, 1000)
    session = _gateway(fake_stripe).create_checkout_session(
        session_params(intent, CONFIG), idempotency_key=idempotency_key(intent)
    )
    method, path, params = fake_stripe.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert params["line_items"][0]["price_data"]["recurring"] == {"interval": "month"}
    assert "submit_type" not in params and "customer_creation" not in params
    assert params["subscription_data"]["metadata"]["intent"] == intent.public_id
    assert fake_stripe.sessions[session.id]["mode"] == "subscription"


def test_the_fake_refuses_what_stripe_refuses(fake_stripe: FakeStripe) -> None:
    gateway = _gateway(fake_stripe)
    params = session_params(_intent(Frequency.MONTHLY), CONFIG)
    params["submit_type"] = "donate"
    with pytest.raises(PaymentProviderError, match="submit_type"):
        gateway.create_checkout_session(params, idempotency_key="k-sub-submit")
    monthly_customer = session_params(_intent(Frequency.MONTHLY), CONFIG)
    monthly_customer["customer_creation"] = "always"
    with pytest.raises(PaymentProviderError, match="customer_creation"):
        gateway.create_checkout_session(monthly_customer, idempotency_key="k-sub-customer")
    one_time_recurring = session_params(_intent(), CONFIG)
    one_time_recurring["line_items"][0]["price_data"]["recurring"] = {"interval": "month"}
    with pytest.raises(PaymentProviderError, match="recurring price"):
        gateway.create_checkout_session(one_time_recurring, idempotency_key="k-pay-recurring")
    monthly_one_off = session_params(_intent(Frequency.MONTHLY), CONFIG)
    del monthly_one_off["line_items"][0]["price_data"]["recurring"]
    with pytest.raises(PaymentProviderError, match="at least one recurring price"):
        gateway.create_checkout_session(monthly_one_off, idempotency_key="k-sub-oneoff")
    fractional = session_params(_intent(), CONFIG)
    fractional["line_items"][0]["price_data"]["unit_amount"] = 25.5
    with pytest.raises(PaymentProviderError, match="Invalid integer"):
        gateway.create_checkout_session(fractional, idempotency_key="k-fraction")
    missing_mode = session_params(_intent(), CONFIG)
    del missing_mode["mode"]
    with pytest.raises(PaymentProviderError, match="mode"):
        gateway.create_checkout_session(missing_mode, idempotency_key="k-mode")
    too_small = session_params(_intent(amount=29), CONFIG)
    with pytest.raises(PaymentProviderError, match=r"at least 0\.30 gbp"):
        gateway.create_checkout_session(too_small, idempotency_key="k-small")
    bad_url = session_params(_intent(), CONFIG) | {"success_url": "/donate/thanks"}
    with pytest.raises(PaymentProviderError, match="URL"):
        gateway.create_checkout_session(bad_url, idempotency_key="k-url")
    long_meta = session_params(_intent(), CONFIG)
    long_meta["metadata"] = {"note": "x" * 501}
    with pytest.raises(PaymentProviderError, match="500 characters"):
        gateway.create_checkout_session(long_meta, idempotency_key="k-meta")
    unknown = session_params(_intent(), CONFIG) | {"donor": "x"}
    with pytest.raises(PaymentProviderError, match="unknown parameter: donor"):
        gateway.create_checkout_session(unknown, idempotency_key="k-unknown")
    with pytest.raises(PaymentProviderError):
        _gateway(fake_stripe, "sk_live_nope").create_checkout_session(
            session_params(_intent(), CONFIG), idempotency_key="k-live"
        )


def test_idempotency_key_reuse(fake_stripe: FakeStripe) -> None:
    gateway = _gateway(fake_stripe)
    intent = _intent(amount=4200)
    params = session_params(intent, CONFIG)
    first = gateway.create_checkout_session(params, idempotency_key="intent-reuse")
    again = gateway.create_checkout_session(params, idempotency_key="intent-reuse")
    assert again.id == first.id
    changed = session_params(_intent(amount=4300), CONFIG)
    with pytest.raises(PaymentProviderError):
        gateway.create_checkout_session(changed, idempotency_key="intent-reuse")


def test_thanks_summary_and_unknown_session(fake_stripe: FakeStripe, settings: Settings) -> None:
    gateway = _gateway(fake_stripe)
    intent = _intent(amount=3100)
    session = gateway.create_checkout_session(
        session_params(intent, CONFIG), idempotency_key=idempotency_key(intent)
    )
    fake_stripe.pay(session.id, email="ann@example.org")
    summary = gateway.retrieve_checkout_session(session.id)
    assert (summary.payment_status, summary.amount_minor, summary.email) == (
        "paid",
        3100,
        "ann@example.org",
    )
    with pytest.raises(PaymentProviderError):
        gateway.retrieve_checkout_session("cs_test_missing")


@pytest.mark.parametrize(
    ("currency", "amount", "refused"),
    [
        ("sek", 299, r"at least 3\.00 sek"),
        ("huf", 17499, r"at least 175\.00 huf"),
        ("kwd", 10005, "multiple of 10"),
        ("kwd", 190, r"at least 0\.200 kwd"),
        ("xyz", 5000, "Invalid currency"),
    ],
)
def test_the_fake_knows_stripes_minimums_and_tens(
    fake_stripe: FakeStripe, currency: str, amount: int, refused: str
) -> None:
    intent = IntentFacts(f"di_{currency}_{amount}", amount, currency, Frequency.ONCE)
    with pytest.raises(PaymentProviderError, match=refused):
        _gateway(fake_stripe).create_checkout_session(
            session_params(intent, CONFIG), idempotency_key=f"k-{currency}-{amount}"
        )


def test_our_amounts_in_a_three_decimal_currency_are_accepted(fake_stripe: FakeStripe) -> None:
    gift = amounts.check(amounts.parse("12.34", "kwd"), "kwd", Decimal("1"), Decimal("100"))
    total = gift + fee_to_cover(gift, "kwd", Decimal("2.9"), Decimal("0.075"))
    intent = IntentFacts("di_kwd_fee", total, "kwd", Frequency.ONCE)
    session = _gateway(fake_stripe).create_checkout_session(
        session_params(intent, CONFIG), idempotency_key="k-kwd-fee"
    )
    assert fake_stripe.sessions[session.id]["amount_total"] == total
