"""The prepared HMAC is RFC 2104 HMAC-SHA256: every signature ever issued depends on it."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.macs import Mac


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(max_size=150),  # past the 64-byte block: such keys are hashed first
    prefix=st.binary(max_size=100),
    rest=st.binary(max_size=200),
)
def test_same_as_hmac_new(key: bytes, prefix: bytes, rest: bytes) -> None:
    expected = hmac.new(key, prefix + rest, hashlib.sha256).digest()
    assert Mac(key, prefix).digest(rest) == expected


def test_one_prepared_mac_signs_many_messages_independently() -> None:
    mac = Mac(b"k" * 32, b"verp.12.")
    first = mac.digest(b"1")
    mac.digest(b"2")
    assert mac.digest(b"1") == first == hmac.new(b"k" * 32, b"verp.12.1", "sha256").digest()
