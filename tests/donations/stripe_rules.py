"""Stripe's request rules, as the fake server enforces them.

Form bodies in Stripe's bracket notation, unknown/missing parameters, integer
and URL types, metadata limits and the Checkout Session mode rules. Errors carry
Stripe's shape: ``{"error": {"type", "message", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

#: Stripe's documented minimum charge per currency, in minor units.
MINIMUM = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500,
    "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50,
    "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
#: Three-decimal currencies: amounts must be multiples of 10. Stripe's minimum for
#: them is the day's equivalent of 0.50 USD; these round that up, so the fake is
#: never more lenient than Stripe.
THREE_DECIMAL = {"bhd": 200, "jod": 400, "kwd": 200, "omr": 200, "tnd": 2000}
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "bif", "djf", "gnf", "kmf", "mga", "pyg", "rwf"}
#: Only currencies whose minimum the fake knows: any other is refused.
CURRENCIES = set(MINIMUM) | set(THREE_DECIMAL)

SESSION_PARAMS = {
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata",
    "customer",
    "customer_email",
    "customer_creation",
    "submit_type",
    "payment_intent_data",
    "subscription_data",
    "ui_mode",
    "locale",
    "expires_at",
    "billing_address_collection",
    "payment_method_types",
    "allow_promotion_codes",
    "custom_text",
    "expand",
}
LINE_ITEM_PARAMS = {"price", "price_data", "quantity", "adjustable_quantity", "tax_rates"}
PRICE_DATA_PARAMS = {
    "currency",
    "product",
    "product_data",
    "unit_amount",
    "unit_amount_decimal",
    "recurring",
    "tax_behavior",
}
PRODUCT_DATA_PARAMS = {"name", "description", "images", "metadata", "tax_code"}
RECURRING_PARAMS = {"interval", "interval_count"}
PI_DATA_PARAMS = {"metadata", "description", "receipt_email", "statement_descriptor_suffix"}
SUB_DATA_PARAMS = {"metadata", "description", "trial_period_days"}


class StripeFailure(Exception):
    def __init__(self, status: int, message: str, param: str = "", **extra: str) -> None:
        super().__init__(message)
        self.status = status
        body: dict[str, str] = {"type": "invalid_request_error", "message": message}
        if param:
            body["param"] = param
        body.update(extra)
        self.body = {"error": body}


def invalid(message: str, param: str, code: str = "parameter_invalid") -> StripeFailure:
    return StripeFailure(400, message, param, code=code)


def decode_form(pairs: list[tuple[str, str]]) -> Any:
    """Stripe's bracket notation to nested dicts; ``[0]`` indexes become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = root
        for part, nxt in zip(parts, [*parts[1:], None], strict=True):
            if nxt is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    fixed = {k: _listify(v) for k, v in node.items()}
    if fixed and all(k.isdigit() for k in fixed):
        indexes = sorted(int(k) for k in fixed)
        if indexes != list(range(len(indexes))):
            raise invalid("Invalid array", "")
        return [fixed[str(i)] for i in indexes]
    return fixed


def refuse_unknown(given: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in given:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise invalid(f"Received unknown parameter: {name}", name, "parameter_unknown")


def integer_param(value: Any, param: str, minimum: int = 0) -> int:
    if not isinstance(value, str) or not value.lstrip("-").isdigit():
        raise invalid(f"Invalid integer: {value}", param, "parameter_invalid_integer")
    number = int(value)
    if number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param)
    return number


def url_param(value: Any, param: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("Not a valid URL", param, "url_invalid")
    if len(value) > 5000:
        raise invalid("URL too long", param)
    return str(value)


def _metadata(value: Any, param: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid("Invalid hash", param)
    if len(value) > 50:
        raise invalid("Metadata can have at most 50 keys.", param)
    for key, item in value.items():
        if len(key) > 40:
            raise invalid("Metadata keys can be at most 40 characters long.", f"{param}[{key}]")
        if not isinstance(item, str) or len(item) > 500:
            raise invalid("Metadata values can be at most 500 characters long.", f"{param}[{key}]")
    return dict(value)


def _price(item: dict[str, Any], i: int, mode: str) -> tuple[str, int, bool]:
    base = f"line_items[{i}]"
    refuse_unknown(item, LINE_ITEM_PARAMS, base)
    if "price" in item:
        raise invalid("No such price", f"{base}[price]", "resource_missing")
    data = item.get("price_data")
    if not isinstance(data, dict):
        raise invalid("You must specify either `price` or `price_data`.", base, "parameter_missing")
    if "quantity" not in item:
        raise invalid("Missing required param: quantity.", f"{base}[quantity]", "parameter_missing")
    integer_param(item["quantity"], f"{base}[quantity]", 1)
    pd = f"{base}[price_data]"
    refuse_unknown(data, PRICE_DATA_PARAMS, pd)
    currency = data.get("currency")
    if currency not in CURRENCIES:
        raise invalid(f"Invalid currency: {currency}.", f"{pd}[currency]")
    if ("product" in data) == ("product_data" in data):
        raise invalid("Exactly one of product or product_data is required.", pd)
    product = data.get("product_data") or {}
    if not isinstance(product, dict):
        raise invalid("Invalid hash", f"{pd}[product_data]")
    refuse_unknown(product, PRODUCT_DATA_PARAMS, f"{pd}[product_data]")
    if not product.get("name"):
        raise invalid(
            "Missing required param: name.", f"{pd}[product_data][name]", "parameter_missing"
        )
    if "unit_amount" not in data:
        raise invalid(
            "Missing required param: unit_amount.", f"{pd}[unit_amount]", "parameter_missing"
        )
    amount = integer_param(data["unit_amount"], f"{pd}[unit_amount]")
    if currency in THREE_DECIMAL and amount % 10:
        raise invalid(
            f"Invalid amount: amounts in {currency} must be a multiple of 10 (the last "
            "decimal must be 0).",
            f"{pd}[unit_amount]",
        )
    recurring = data.get("recurring")
    if recurring is not None:
        if not isinstance(recurring, dict):
            raise invalid("Invalid hash", f"{pd}[recurring]")
        refuse_unknown(recurring, RECURRING_PARAMS, f"{pd}[recurring]")
        if recurring.get("interval") not in ("day", "week", "month", "year"):
            raise invalid("Invalid interval", f"{pd}[recurring][interval]")
        if "interval_count" in recurring:
            integer_param(recurring["interval_count"], f"{pd}[recurring][interval_count]", 1)
    if mode == "payment" and recurring is not None:
        raise invalid(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            f"{pd}[recurring]",
        )
    return currency, amount * int(item["quantity"]), recurring is not None


def validate_session(params: dict[str, Any]) -> dict[str, Any]:
    """Raise ``StripeFailure`` for anything Stripe would refuse; return the facts kept."""
    refuse_unknown(params, SESSION_PARAMS, "")
    mode = params.get("mode")
    if mode is None:
        raise invalid("Missing required param: mode.", "mode", "parameter_missing")
    if mode not in ("payment", "setup", "subscription"):
        raise invalid("Invalid mode: must be one of payment, setup, or subscription", "mode")
    if params.get("ui_mode", "hosted") == "hosted" and "success_url" not in params:
        raise invalid("Missing required param: success_url.", "success_url", "parameter_missing")
    url_param(params.get("success_url"), "success_url")
    if "cancel_url" in params:
        url_param(params["cancel_url"], "cancel_url")
    items = params.get("line_items")
    if mode in ("payment", "subscription") and not items:
        raise invalid(
            "`line_items` is required in `payment` and `subscription` mode.",
            "line_items",
            "parameter_missing",
        )
    if not isinstance(items, list):
        raise invalid("Invalid array", "line_items")
    prices = [
        _price(item if isinstance(item, dict) else {}, i, mode) for i, item in enumerate(items)
    ]
    currencies = {c for c, _, _ in prices}
    if len(currencies) > 1:
        raise invalid("All line items must use the same currency.", "line_items")
    currency = currencies.pop()
    total = sum(a for _, a, _ in prices)
    if mode == "subscription":
        if not any(r for _, _, r in prices):
            raise invalid(
                "You must specify at least one recurring price in `subscription` "
                "mode when using prices.",
                "line_items",
            )
        for name in ("submit_type", "customer_creation", "payment_intent_data"):
            if name in params:
                raise invalid(f"`{name}` can only be used in `payment` mode.", name)
    if mode == "payment" and "subscription_data" in params:
        raise invalid(
            "`subscription_data` can only be used in `subscription` mode.", "subscription_data"
        )
    if params.get("submit_type", "auto") not in ("auto", "book", "donate", "pay", "subscribe"):
        raise invalid("Invalid submit_type", "submit_type")
    if params.get("customer_creation", "always") not in ("always", "if_required"):
        raise invalid("Invalid customer_creation", "customer_creation")
    if "customer" in params and ("customer_creation" in params or "customer_email" in params):
        raise invalid(
            "You may only specify one of these parameters: customer, "
            "customer_creation, customer_email.",
            "customer",
        )
    email = params.get("customer_email")
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise invalid("Invalid email address: " + str(email), "customer_email", "email_invalid")
    ref = params.get("client_reference_id")
    if ref is not None and (not isinstance(ref, str) or not 1 <= len(ref) <= 200):
        raise invalid("client_reference_id must be 1 to 200 characters.", "client_reference_id")
    metadata = _metadata(params.get("metadata", {}), "metadata")
    for nested, allowed in (
        ("payment_intent_data", PI_DATA_PARAMS),
        ("subscription_data", SUB_DATA_PARAMS),
    ):
        if nested in params:
            if not isinstance(params[nested], dict):
                raise invalid("Invalid hash", nested)
            refuse_unknown(params[nested], allowed, nested)
            if "metadata" in params[nested]:
                _metadata(params[nested]["metadata"], f"{nested}[metadata]")
    minimum = MINIMUM.get(currency) or THREE_DECIMAL[currency]
    if total < minimum:
        places = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
        shown = f"{minimum / 10**places:.{places}f}"
        raise invalid(
            f"The Checkout Session's total amount due must add up to at least {shown} {currency}",
            "line_items",
        )
    if total > 99_999_999:
        raise invalid("Amount must be no more than 99,999,999", "line_items")
    return {"mode": mode, "currency": currency, "total": total, "metadata": metadata}
