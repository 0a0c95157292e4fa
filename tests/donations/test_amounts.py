from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.donations import amounts
from newsletter.donations.amounts import InvalidAmount
from newsletter.donations.checkout import fee_to_cover


def test_pounds_are_pence_and_yen_have_no_minor_unit() -> None:
    assert amounts.parse("25", "gbp") == 2500
    assert amounts.parse("£25.50", "gbp") == 2550
    assert amounts.parse("1,000", "usd") == 100000
    assert amounts.parse("500", "jpy") == 500
    assert amounts.format_amount(2550, "gbp") == "£25.50"
    assert amounts.format_amount(2500, "gbp") == "£25"
    assert amounts.format_amount(500, "jpy") == "¥500"


@pytest.mark.parametrize(
    "text", ["", "abc", "-5", "0", "NaN", "Infinity", "1e400x", "1e30", "9" * 30]
)
def test_nonsense_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        amounts.parse(text, "gbp")


def test_yen_refuses_fractions_and_pounds_refuse_three_decimals() -> None:
    with pytest.raises(InvalidAmount, match="whole amounts"):
        amounts.parse("500.5", "jpy")
    with pytest.raises(InvalidAmount, match="two decimals"):
        amounts.parse("10.005", "gbp")


def test_limits_are_the_stricter_of_settings_and_stripe() -> None:
    # Settings allow 0.10 but Stripe's floor for GBP is 30p.
    assert amounts.limits("gbp", Decimal("0.10"), Decimal("10000")) == (30, 1_000_000)
    # Stripe's floor for JPY is 50 yen; settings say 100.
    assert amounts.limits("jpy", Decimal("100"), Decimal("1000000")) == (100, 1_000_000)
    # Eight digits is Stripe's ceiling.
    assert amounts.limits("usd", Decimal("1"), Decimal("5000000"))[1] == 99_999_999
    with pytest.raises(InvalidAmount, match="smallest gift we can take is £1"):
        amounts.check(99, "gbp", Decimal("1"), Decimal("10000"))
    with pytest.raises(InvalidAmount, match="largest"):
        amounts.check(1_000_001, "gbp", Decimal("1"), Decimal("10000"))


@given(st.integers(min_value=1, max_value=99_999_999), st.sampled_from(["gbp", "jpy", "usd"]))
def test_minor_units_round_trip(minor: int, currency: str) -> None:
    assert amounts.to_minor(amounts.to_major(minor, currency), currency) == minor


def test_covering_the_fee_leaves_the_gift_whole() -> None:
    fee = fee_to_cover(2500, "gbp", Decimal("1.5"), Decimal("0.20"))
    gross = 2500 + fee
    assert gross - (gross * Decimal("0.015") + 20) >= 2500
    assert fee_to_cover(2500, "gbp", Decimal(0), Decimal(0)) == 0


def test_three_decimal_currencies_are_charged_in_tens() -> None:
    assert amounts.parse("10.25", "kwd") == 10250
    with pytest.raises(InvalidAmount, match="two decimals"):
        amounts.parse("10.255", "kwd")
    for gift in (10250, 5000, 1230):
        fee = fee_to_cover(gift, "kwd", Decimal("2.9"), Decimal("0.075"))
        assert fee > 0 and (gift + fee) % 10 == 0
    assert amounts.limits("kwd", Decimal("0.05"), Decimal("100"))[0] == 200
