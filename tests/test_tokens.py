"""Signed links: forged, expired and wrong-purpose tokens are refused."""

from __future__ import annotations

import pytest

from newsletter import tokens
from newsletter.errors import TokenError

SECRET = b"k" * 32


def test_round_trip() -> None:
    token = tokens.sign(SECRET, "unsubscribe", {"s": 42}, now=1000)
    assert tokens.verify(SECRET, "unsubscribe", token, now=1001)["s"] == 42


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "e30" + t[3:],
        lambda t: t.split(".")[0],
        lambda t: "",
    ],
)
def test_forged_tokens_are_refused(mangle) -> None:
    token = tokens.sign(SECRET, "unsubscribe", {"s": 42})
    with pytest.raises(TokenError):
        tokens.verify(SECRET, "unsubscribe", mangle(token))


def test_wrong_purpose_and_wrong_secret_are_refused() -> None:
    token = tokens.sign(SECRET, "unsubscribe", {"s": 42})
    with pytest.raises(TokenError):
        tokens.verify(SECRET, "confirm", token)
    with pytest.raises(TokenError):
        tokens.verify(b"other", "unsubscribe", token)


def test_expired_token_is_refused() -> None:
    token = tokens.sign(SECRET, "confirm", {"s": 1}, now=0)
    assert tokens.verify(SECRET, "confirm", token, max_age=60, now=59)["s"] == 1
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(SECRET, "confirm", token, max_age=60, now=61)
