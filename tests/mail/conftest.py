"""Keys, a fake DNS for DKIM look-ups, an identity, and a strict parser."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from newsletter.mail.dkim import Signer, generate_ed25519, generate_rsa
from newsletter.mail.message import Identity

STRICT = email.policy.default.clone(raise_on_defect=True)


def parse(message: bytes) -> EmailMessage:
    """Parse as a receiving client would, failing on any defect."""
    parsed = email.message_from_bytes(message, policy=STRICT)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    for part in parsed.walk():
        assert not part.defects, part.defects
    return parsed


@pytest.fixture(scope="session")
def rsa_key() -> tuple[bytes, str]:
    return generate_rsa()


@pytest.fixture(scope="session")
def ed_key() -> tuple[bytes, str]:
    return generate_ed25519()


@pytest.fixture(scope="session")
def signer(rsa_key: tuple[bytes, str], ed_key: tuple[bytes, str]) -> Signer:
    return Signer("nl2026", "example.org", rsa_key[0], ed25519=("nl2026e", ed_key[0]))


@pytest.fixture(scope="session")
def rsa_signer(rsa_key: tuple[bytes, str]) -> Signer:
    return Signer("nl2026", "example.org", rsa_key[0])


@pytest.fixture(scope="session")
def records(rsa_key: tuple[bytes, str], ed_key: tuple[bytes, str]) -> dict[str, str]:
    """What the organisation would publish in DNS, by record name."""
    return {
        "nl2026._domainkey.example.org": rsa_key[1],
        "nl2026e._domainkey.example.org": ed_key[1],
    }


@pytest.fixture(scope="session")
def dnsfunc(records: dict[str, str]) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook: answers from ``records`` instead of the network."""

    def lookup(name: bytes, timeout: int = 5, **_: Any) -> bytes | None:
        value = records.get(name.decode().rstrip("."))
        return value.encode() if value else None

    return lookup


@pytest.fixture
def identity() -> Identity:
    return Identity(
        from_address="briefings@example.org",
        from_name="NATO Watch Briefings",
        reply_to="office@example.org",
        list_id="NATO Watch <briefings.example.org>",
        feedback_id="112:digest:natowatch",
        domain="example.org",
    )
