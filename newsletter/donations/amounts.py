"""Money as Stripe counts it: integer minor units, per-currency exponents and minimums.

Stripe takes ``unit_amount`` in the currency's smallest unit (pence, cents; yen
have none), refuses charges under a per-currency minimum, and caps amounts at
eight digits. Doing the same arithmetic here means the donate form rejects what
Stripe would reject, with a message the donor understands.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from newsletter.errors import NewsletterError

#: Currencies Stripe charges in whole units (no minor unit).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
#: Currencies with three decimals; Stripe wants their amounts rounded to tens.
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

#: Stripe's minimum charge per currency, in minor units (others: 50).
MINIMUM_MINOR: dict[str, int] = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500,
    "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50,
    "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
    # three-decimal currencies: Stripe asks for the equivalent of 0.50 USD; rounded up
    "bhd": 200, "jod": 400, "kwd": 200, "omr": 200, "tnd": 2000,
}  # fmt: skip
#: Stripe's largest amount: eight digits in minor units.
MAXIMUM_MINOR = 99_999_999
#: Digits before the point beyond which a typed amount is refused outright.
_MAX_DIGITS = 12

SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "jpy": "¥", "aud": "A$", "cad": "C$", "chf": "CHF "}


class InvalidAmount(NewsletterError, ValueError):
    """An amount the donor typed that cannot be charged (not a number, too small, too big)."""


def exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (0, 2 or 3)."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units (``Decimal("25.50")``) to Stripe's integer minor units (2550)."""
    scaled = (amount * (10 ** exponent(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    minor = int(scaled)
    if currency.lower() in THREE_DECIMAL:
        minor = (minor + 5) // 10 * 10
    return minor


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def plain(minor: int, currency: str) -> str:
    """The amount as a form value: ``2500`` -> ``"25"``, ``2550`` -> ``"25.50"``."""
    major = to_major(minor, currency)
    places = 0 if major == major.to_integral_value() else exponent(currency)
    return f"{major:.{places}f}"


def format_amount(minor: int, currency: str) -> str:
    """``2550, "gbp"`` -> ``£25.50``; whole amounts drop the zeros (``£25``)."""
    major = to_major(minor, currency)
    text = (
        f"{major:,.0f}"
        if major == major.to_integral_value()
        else f"{major:,.{exponent(currency)}f}"
    )
    symbol = SYMBOLS.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def parse(text: str, currency: str) -> int:
    """What a donor typed (``"25"``, ``"£25.50"``, ``"1,000"``) in minor units."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    symbol = SYMBOLS.get(currency.lower(), "").strip()
    if symbol and cleaned.startswith(symbol):
        cleaned = cleaned[len(symbol) :]
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidAmount("please enter the amount as a number, for example 25") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmount("please enter an amount greater than zero")
    if amount.adjusted() >= _MAX_DIGITS:
        # quantizing this many digits overflows Decimal's precision; nobody gives it anyway
        raise InvalidAmount("please enter a smaller amount")
    # three-decimal currencies too: Stripe wants their minor amounts in tens
    places = min(exponent(currency), 2)
    if amount != amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):
        unit = "whole amounts" if places == 0 else "at most two decimals"
        raise InvalidAmount(f"please enter {unit} for {currency.upper()}")
    return to_minor(amount, currency)


def limits(currency: str, minimum: Decimal, maximum: Decimal) -> tuple[int, int]:
    """The accepted range in minor units: the stricter of our settings and Stripe's rules."""
    low = max(to_minor(minimum, currency), MINIMUM_MINOR.get(currency.lower(), 50))
    high = min(to_minor(maximum, currency), MAXIMUM_MINOR)
    return low, high


def check(minor: int, currency: str, minimum: Decimal, maximum: Decimal) -> int:
    """Return ``minor`` if it is within limits, else raise ``InvalidAmount`` saying why."""
    low, high = limits(currency, minimum, maximum)
    if minor < low:
        raise InvalidAmount(f"the smallest gift we can take is {format_amount(low, currency)}")
    if minor > high:
        raise InvalidAmount(
            f"the largest gift we can take online is {format_amount(high, currency)}"
        )
    return minor


def presets(text: str, currency: str) -> list[int]:
    """The comma-separated preset amounts from settings, in minor units."""
    return [to_minor(Decimal(p.strip()), currency) for p in text.split(",") if p.strip()]
