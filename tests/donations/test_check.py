"""`newsletter donations check` and `donations test-checkout`, as staff run them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from newsletter.cli import common
from newsletter.cli.app import app as cli
from newsletter.donations.models import DonationIntent
from newsletter.donations.webhook import WebhookProcessor
from newsletter.errors import ConfigError
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET, deliver
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import gifts


def _run(*args: str) -> Result:
    common.settings.cache_clear()  # each run reads the environment as it now is
    return CliRunner().invoke(cli, ["donations", *args])


@pytest.fixture
def stripe_env(cli_env: Path, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSLETTER_STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("NEWSLETTER_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("NEWSLETTER_STRIPE_API_BASE", fake_stripe.url)
    return cli_env


def test_unconfigured_names_the_settings_to_set(cli_env: Path, fake_stripe: FakeStripe) -> None:
    asked = len(fake_stripe.requests)
    result = _run("check")
    assert isinstance(result.exception, ConfigError) and "not ready" in str(result.exception)
    assert "PROBLEM NEWSLETTER_STRIPE_SECRET_KEY: not set" in result.output
    assert "PROBLEM NEWSLETTER_STRIPE_WEBHOOK_SECRET: not set" in result.output
    assert "https://news.example.org/stripe/webhook" in result.output
    assert len(fake_stripe.requests) == asked  # no key, nothing to ask Stripe


def test_a_working_set_up_is_ready_and_the_key_was_tried(
    stripe_env: Path, fake_stripe: FakeStripe
) -> None:
    result = _run("check")
    assert result.exit_code == 0, result.output
    assert f"Stripe accepts it (account {fake_stripe.account['id']})" in result.output
    assert "Online giving is ready." in result.output
    assert fake_stripe.requests[-1][:2] == ("GET", "/v1/account")


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("NEWSLETTER_STRIPE_SECRET_KEY", "sk_test_x", "Stripe did not accept it"),
        ("NEWSLETTER_STRIPE_SECRET_KEY", "pk_test_" + "a" * 24, "publishable key"),
        ("NEWSLETTER_STRIPE_SECRET_KEY", "password123", "does not look like a Stripe secret"),
        ("NEWSLETTER_STRIPE_WEBHOOK_SECRET", "we_1Abc", "not a Stripe signing secret"),
        ("NEWSLETTER_STRIPE_WEBHOOK_SECRET", f"{WEBHOOK_SECRET},whsec_", "secret 2 is not"),
        ("NEWSLETTER_CURRENCY", "pounds", "not a three-letter code"),
        ("NEWSLETTER_DONATION_PRESETS", "10,25,50000", "outside the limits: £50,000"),
    ],
)
def test_each_wrong_setting_is_named(
    stripe_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(setting, value)
    result = _run("check")
    assert isinstance(result.exception, ConfigError), result.output
    problems = [line for line in result.output.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1 and expected in problems[0], result.output
    # What the command prints never repeats a secret (stderr may carry log lines of earlier runs).
    assert value not in result.stdout or setting.endswith(("CURRENCY", "PRESETS"))


def test_gift_aid_wording_and_currency_are_checked(
    stripe_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_GIFT_AID", "true")
    monkeypatch.setenv("NEWSLETTER_ORGANISATION_NAME", "Sahel Policy Institute")
    monkeypatch.setenv("NEWSLETTER_GIFT_AID_WORDING", "I want to Gift Aid my donation.")
    result = _run("check")
    assert isinstance(result.exception, ConfigError)
    assert "NEWSLETTER_GIFT_AID_WORDING: HMRC's declaration also needs" in result.output
    assert "UK taxpayer" in result.output and "charity's name" in result.output
    wording = (
        "I want to Gift Aid my donation and any donations I make in the future or have made "
        "in the past 4 years to Sahel Policy Institute. I am a UK taxpayer and understand "
        "that if I pay less Income Tax and/or Capital Gains Tax than the amount of Gift Aid "
        "claimed on all my donations in that tax year it is my responsibility to pay any "
        "difference."
    )
    monkeypatch.setenv("NEWSLETTER_GIFT_AID_WORDING", wording)
    result = _run("check")
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("NEWSLETTER_CURRENCY", "usd")
    result = _run("check")
    assert "PROBLEM NEWSLETTER_GIFT_AID: needs gifts in pounds" in result.output


@pytest.mark.parametrize("monthly", [False, True])
def test_test_checkout_opens_a_session_the_webhook_then_records(
    stripe_env: Path,
    fake_stripe: FakeStripe,
    processor: WebhookProcessor,
    sessions: sessionmaker[Session],
    monthly: bool,
) -> None:
    result = _run("test-checkout", "--amount", "10", *(["--monthly"] if monthly else []))
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    sid = url.rsplit("/", 1)[1]
    assert url == f"{fake_stripe.url}/c/pay/{sid}"
    assert f"{'monthly' if monthly else 'one-time'} gift of £10" in result.output
    stripe_session = fake_stripe.sessions[sid]
    assert stripe_session["amount_total"] == 1000
    assert stripe_session["mode"] == ("subscription" if monthly else "payment")
    with sessions() as session:
        intent = session.scalar(
            select(DonationIntent).where(DonationIntent.checkout_session_id == sid)
        )
        assert intent is not None
    paid = fake_stripe.pay(sid, email="staff@example.org", name="Staff")
    deliver(processor, fake_stripe.event("checkout.session.completed", paid))
    if monthly:
        deliver(processor, fake_stripe.event("invoice.paid", fake_stripe.invoice(paid)))
    assert [g.amount_minor for g in gifts(sessions)] == [1000]


def test_test_checkout_refuses_live_keys_and_bad_amounts(
    stripe_env: Path, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = len(fake_stripe.sessions)
    result = _run("test-checkout", "--amount", "ten")
    assert "as a number" in str(result.exception)
    result = _run("test-checkout", "--amount", "0.10")
    assert "smallest gift" in str(result.exception)
    monkeypatch.setenv("NEWSLETTER_STRIPE_SECRET_KEY", "sk_live_" + "a" * 24)
    result = _run("test-checkout", "--amount", "10")
    assert isinstance(result.exception, ConfigError) and "test-mode key" in str(result.exception)
    assert len(fake_stripe.sessions) == opened
