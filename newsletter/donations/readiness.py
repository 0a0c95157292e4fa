"""Whether online giving is ready to take money: the staff-side check of the settings.

The public donate page only says that giving is not available yet; the setting
names, and what is wrong with each, are for staff, here (``donations check``).
Every finding names the setting to change. Stripe is asked once, through the
gateway, whether it accepts the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import InvalidOperation

from newsletter.config import Settings
from newsletter.donations import amounts
from newsletter.donations.gateway import AccountSummary, PaymentProviderError

KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
#: Stripe's endpoint secrets: ``whsec_`` and then base64-like characters.
WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9_+/=-]{16,}")
#: What HMRC's model declaration must tell the donor; wording without one is not valid.
GIFT_AID_POINTS = {
    "Gift Aid": "that the donor wants to Gift Aid the donation",
    "UK taxpayer": "that the donor is a UK taxpayer",
    "Income Tax": "the Income Tax condition",
    "Capital Gains Tax": "the Capital Gains Tax condition",
    "responsibility to pay any difference": "that paying any shortfall is the donor's "
    "responsibility",
}


@dataclass(frozen=True)
class Finding:
    """One line of the check: ``ok`` or a problem, naming the setting involved."""

    ok: bool
    setting: str
    message: str


def _key(settings: Settings) -> list[Finding]:
    name = "NEWSLETTER_STRIPE_SECRET_KEY"
    key = (
        settings.stripe_secret_key.get_secret_value().strip() if settings.stripe_secret_key else ""
    )
    if not key:
        return [Finding(False, name, "not set: the secret key from Stripe's dashboard (API keys)")]
    if key.startswith(("pk_test_", "pk_live_")):
        return [Finding(False, name, "is a publishable key (pk_...); use the secret key")]
    if not key.startswith(KEY_PREFIXES):
        return [Finding(False, name, "does not look like a Stripe secret key (sk_test_...)")]
    mode = "live" if "_live_" in key[:8] else "test"
    return [Finding(True, name, f"set ({mode} mode)")]


def _stripe(lookup: Callable[[], AccountSummary], currency: str) -> list[Finding]:
    name = "NEWSLETTER_STRIPE_SECRET_KEY"
    try:
        account = lookup()
    except PaymentProviderError as exc:
        return [Finding(False, name, f"Stripe did not accept it: {exc}")]
    found = [Finding(True, name, f"Stripe accepts it (account {account.id})")]
    if not account.charges_enabled:
        found.append(Finding(False, name, f"Stripe account {account.id} cannot take payments yet"))
    if account.default_currency and account.default_currency != currency:
        found.append(
            Finding(
                True,
                "NEWSLETTER_CURRENCY",
                f"differs from the account's {account.default_currency.upper()}: "
                "Stripe converts each gift",
            )
        )
    return found


def _webhook(settings: Settings) -> list[Finding]:
    name = "NEWSLETTER_STRIPE_WEBHOOK_SECRET"
    value = settings.stripe_webhook_secret
    raw = value.get_secret_value().strip() if value else ""
    url = f"{settings.public_base_url}/stripe/webhook"
    if not raw:
        return [Finding(False, name, f"not set: the signing secret of the endpoint {url}")]
    secrets = [s.strip() for s in raw.split(",") if s.strip()]
    bad = [i + 1 for i, s in enumerate(secrets) if not WEBHOOK_SECRET.fullmatch(s)]
    if bad:
        which = "it" if len(secrets) == 1 else f"secret {', '.join(map(str, bad))}"
        return [Finding(False, name, f"{which} is not a Stripe signing secret (whsec_...)")]
    return [Finding(True, name, f"set ({len(secrets)} signing secret(s) for {url})")]


def _currency(settings: Settings) -> list[Finding]:
    name = "NEWSLETTER_CURRENCY"
    currency = settings.currency.lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        return [Finding(False, name, f"{currency!r} is not a three-letter code such as gbp")]
    found = [Finding(True, name, currency.upper())]
    try:
        low, high = amounts.limits(currency, settings.donation_min, settings.donation_max)
        presets = amounts.presets(settings.donation_presets, currency)
    except (InvalidOperation, ValueError):
        return [*found, Finding(False, "NEWSLETTER_DONATION_PRESETS", "not a list like 10,25,50")]
    if low > high:
        found.append(Finding(False, "NEWSLETTER_DONATION_MIN", "is above NEWSLETTER_DONATION_MAX"))
    outside = [amounts.format_amount(p, currency) for p in presets if not low <= p <= high]
    if outside:
        shown = ", ".join(outside)
        found.append(Finding(False, "NEWSLETTER_DONATION_PRESETS", f"outside the limits: {shown}"))
    return found


def _gift_aid(settings: Settings) -> list[Finding]:
    if not settings.gift_aid:
        return []
    found: list[Finding] = []
    if settings.currency.lower() != "gbp":
        found.append(Finding(False, "NEWSLETTER_GIFT_AID", "needs gifts in pounds (gbp)"))
    wording = settings.gift_aid_wording
    missing = [
        why for words, why in GIFT_AID_POINTS.items() if words.lower() not in wording.lower()
    ]
    names = (settings.organisation_name, settings.organisation_legal_name)
    if not any(n and n.lower() in wording.lower() for n in names):
        missing.append("the charity's name")
    name = "NEWSLETTER_GIFT_AID_WORDING"
    if missing:
        found.append(Finding(False, name, "HMRC's declaration also needs " + "; ".join(missing)))
    else:
        found.append(Finding(True, name, "has what HMRC's declaration needs"))
    if not settings.gift_aid_version.strip():
        found.append(
            Finding(False, "NEWSLETTER_GIFT_AID_VERSION", "empty: set it to name this wording")
        )
    return found


def check(settings: Settings, lookup: Callable[[], AccountSummary] | None) -> list[Finding]:
    """Every finding about the donation settings; ``lookup`` asks Stripe for the key's
    account (None: no usable key, so Stripe is not asked)."""
    found = _key(settings)
    if lookup is not None and found[0].ok:
        found += _stripe(lookup, settings.currency.lower())
    return found + _webhook(settings) + _currency(settings) + _gift_aid(settings)


def ready(findings: list[Finding]) -> bool:
    return all(f.ok for f in findings)
