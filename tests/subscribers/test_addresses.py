"""Address normalisation: the fast path must agree with email-validator on every input."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from subscribers.addresses import _fast, address_hash, normalise
from subscribers.errors import InvalidAddress


def _library(text: str) -> tuple[str, str] | None:
    try:
        result = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized, result.normalized.lower()


def _ours(text: str) -> tuple[str, str] | None:
    try:
        address = normalise(text)
    except InvalidAddress:
        return None
    return address.email, address.key


@pytest.mark.parametrize(
    ("given_text", "email", "key"),
    [
        ("Ann.Smith@Example.ORG", "Ann.Smith@example.org", "ann.smith@example.org"),
        (
            "  bob+news@mail.example.net \n",
            "bob+news@mail.example.net",
            "bob+news@mail.example.net",
        ),
        ("zoë@bücher.example", "zoë@bücher.example", "zoë@bücher.example"),
        ("POSTMASTER@Example.org", "postmaster@example.org", "postmaster@example.org"),
    ],
)
def test_addresses_are_normalised_with_a_lower_case_key(
    given_text: str, email: str, key: str
) -> None:
    address = normalise(given_text)
    assert (address.email, address.key) == (email, key)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "no-at-sign.example.org",
        "a..b@example.org",
        "a@localhost",
        "a@x.test",
        "a@-x.org",
    ],
)
def test_unusable_addresses_are_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        normalise(bad)


def test_the_suppression_hash_ignores_case_but_not_the_address() -> None:
    assert address_hash(normalise("Ann@Example.org").key) == address_hash(
        normalise("ann@example.ORG").key
    )
    assert address_hash("ann@example.org") != address_hash("anne@example.org")


_local = st.text(alphabet="abcXYZ019._+-!#'~é\"\\ ", min_size=0, max_size=70)
_domain = st.text(alphabet="abcXYZ019.-_é", min_size=0, max_size=70)
_tld = st.sampled_from(
    ["org", "ORG", "uk", "c1", "test", "local", "example", "x", "a-b", "xn--p1ai"]
)


@settings(max_examples=200, deadline=None)
@given(local=_local, domain=_domain, tld=_tld)
@example(local="a" * 64, domain="example", tld="org")
@example(local="a" * 65, domain="example", tld="org")
@example(local="ab", domain="xy--z", tld="org")
@example(local="info", domain="example", tld="org")
def test_fast_path_agrees_with_email_validator(local: str, domain: str, tld: str) -> None:
    text = f"{local}@{domain}.{tld}"
    fast = _fast(text)
    if fast is not None:
        assert _library(text) == (fast.email, fast.key)
    assert _ours(text) == _library(text)


@settings(max_examples=100, deadline=None)
@given(st.emails())
def test_generated_addresses_normalise_exactly_like_email_validator(text: str) -> None:
    assert _ours(text) == _library(text)
