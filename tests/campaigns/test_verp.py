"""VERP return paths and Message-IDs: the same addresses as ever, and only genuine ones traced."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.campaigns import verp
from newsletter.config import Settings

CONFIG = Settings(
    _env_file=None,
    secret_key="fixed-test-secret-0123456789abcdef",
    sender_address="briefings@example.org",
)
BOUNCE = Settings(
    _env_file=None,
    secret_key="fixed-test-secret-0123456789abcdef",
    bounce_domain="bounce.example.net",
    sender_address="x@news.example.org",
)

# Issued before the prepared-HMAC implementation: bounces of that mail still come back.
RETURN_PATH = "bounces+c12-s345-5uqim6onv3eejtcn@example.org"
MESSAGE_ID = "<c12.s345.pzvks3ry7nkdt2os@example.org>"


def test_addresses_already_sent_are_made_the_same_and_traced() -> None:
    assert verp.return_path(CONFIG, 12, 345) == RETURN_PATH
    assert verp.message_id(CONFIG, 12, 345) == MESSAGE_ID
    assert verp.return_path(BOUNCE, 1, 2) == "bounces+c1-s2-nborvapbjbx6slz2@bounce.example.net"
    assert verp.message_id(BOUNCE, 1, 2) == "<c1.s2.h2gxuzeeyau7dgje@news.example.org>"
    found = verp.Recipient(12, 345)
    assert verp.find_return_path(CONFIG, f"To: <{RETURN_PATH.upper()}>") == found
    assert verp.find_message_id(CONFIG, f"References: <x@y> {MESSAGE_ID}") == found


def test_forged_or_other_secret_tokens_are_not_traced() -> None:
    forged = RETURN_PATH.replace("-5uqim", "-5uqin")
    assert verp.find_return_path(CONFIG, forged) is None
    assert verp.find_message_id(CONFIG, MESSAGE_ID.replace("s345", "s346")) is None
    other = Settings(_env_file=None, secret_key="another-secret-0123456789abcdefgh")
    assert verp.find_return_path(other, RETURN_PATH) is None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=10, max_size=10))
def test_base32_as_the_stdlib_writes_it(data: bytes) -> None:
    assert verp._base32(data) == base64.b32encode(data).decode("ascii").lower()


@settings(max_examples=200, deadline=None)
@given(
    campaign_id=st.integers(min_value=0, max_value=2**63),
    subscriber_id=st.integers(min_value=0, max_value=2**63),
    purpose=st.sampled_from(["verp", "msgid"]),
)
def test_mac_as_before(campaign_id: int, subscriber_id: int, purpose: str) -> None:
    message = f"{purpose}.{campaign_id}.{subscriber_id}".encode()
    digest = hmac.new(CONFIG.secret, message, hashlib.sha256).digest()
    expected = base64.b32encode(digest[:10]).decode("ascii").lower()
    assert verp._mac(CONFIG.secret, purpose, campaign_id, subscriber_id) == expected
    found = verp.Recipient(campaign_id, subscriber_id)
    assert (
        verp.find_return_path(CONFIG, verp.return_path(CONFIG, campaign_id, subscriber_id)) == found
    )
    assert (
        verp.find_message_id(CONFIG, verp.message_id(CONFIG, campaign_id, subscriber_id)) == found
    )
