"""DKIM signatures that receivers accept: checked by dkimpy and by a second verifier."""

from __future__ import annotations

import base64
import email.message
import email.policy
import re
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter import wiring
from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.mail.dkim import DnsRecord, Signer
from newsletter.mail.message import Identity, build_message
from tests.mail.dkimcheck import verify_all

REQUIRED = {
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
    "list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id",
}  # fmt: skip
DnsFunc = Callable[..., bytes | None]


def digest(identity: Identity, signer: Signer, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "to_address": "zoe@example.com",
        "to_name": "Zoë Smith",
        "subject": "Briefing 112: Türkiye and Priština",
        "html": '<p  style="font-size:16px">Dear\tZoë,</p>\n<p>Donate   now</p>  \n\n\n',
        "text": "Dear Zoë,  \n\n  indented\tand tabbed\n\n\n",
        "unsubscribe_url": "https://news.example.org/u/" + "t" * 220,
        "unsubscribe_mailto": "mailto:briefings@example.org?subject=unsubscribe",
        "signer": signer,
    }
    args.update(overrides)
    return build_message(identity, **args)  # type: ignore[arg-type]


def verifies(message: bytes, idx: int, dnsfunc: DnsFunc) -> bool:
    """dkimpy's verdict on the ``idx``-th signature (a broken one raises inside dkimpy)."""
    try:
        return bool(dkim.DKIM(message).verify(idx=idx, dnsfunc=dnsfunc))
    except dkim.DKIMException:
        return False


def signed_headers(message: bytes) -> list[set[str]]:
    found = re.findall(rb"(?m)^DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", message)
    return [
        set(re.search(r"\bh=([^;]*)", re.sub(r"\s+", "", v.decode()))[1].split(":"))  # type: ignore[index]
        for v in found
    ]


def test_rsa_and_ed25519_signatures_verify(
    identity: Identity, signer: Signer, dnsfunc: DnsFunc, records: dict[str, str]
) -> None:
    message = digest(identity, signer)
    checker = dkim.DKIM(message)
    assert checker.verify(idx=0, dnsfunc=dnsfunc)
    assert checker.verify(idx=1, dnsfunc=dnsfunc)
    assert sorted(verify_all(message, records)) == ["ed25519-sha256", "rsa-sha256"]
    for covered in signed_headers(message):
        assert covered >= REQUIRED | {"reply-to"}
    assert message.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;")


def test_rsa_only_signature_verifies(
    identity: Identity, rsa_signer: Signer, dnsfunc: DnsFunc, records: dict[str, str]
) -> None:
    message = digest(identity, rsa_signer)
    assert message.count(b"DKIM-Signature:") == 1
    assert dkim.verify(message, dnsfunc=dnsfunc)
    assert verify_all(message, records) == ["rsa-sha256"]
    assert b"a=rsa-sha256; s=nl2026; c=relaxed/relaxed; d=example.org" in message


def test_transactional_message_signs_only_the_headers_it_has(
    identity: Identity, signer: Signer, dnsfunc: DnsFunc, records: dict[str, str]
) -> None:
    message = digest(identity, signer, unsubscribe_url=None, unsubscribe_mailto=None)
    assert dkim.verify(message, dnsfunc=dnsfunc)
    verify_all(message, records)
    for covered in signed_headers(message):
        assert not covered & {"list-id", "list-unsubscribe", "list-unsubscribe-post"}
        assert covered >= REQUIRED - {"list-id", "list-unsubscribe", "list-unsubscribe-post"}


def test_lf_line_endings_still_verify(identity: Identity, signer: Signer, dnsfunc: DnsFunc) -> None:
    """What a Maildir file holds (LF) verifies the same as the CRLF wire form."""
    message = digest(identity, signer).replace(b"\r\n", b"\n")
    assert dkim.DKIM(message).verify(idx=0, dnsfunc=dnsfunc)
    assert dkim.DKIM(message).verify(idx=1, dnsfunc=dnsfunc)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.replace(b"Subject: =?utf-8?", b"Subject: Re: =?utf-8?"),
        lambda m: m.replace(b"now</p>", b"later</p>"),
        lambda m: m.replace(b"List-Unsubscribe: <https://news", b"List-Unsubscribe: <https://evil"),
        lambda m: m.replace(b"\r\nFrom: ", b"\r\nFrom: attacker@example.net\r\nFrom: ", 1),
    ],
)
def test_tampering_breaks_the_signature(
    identity: Identity,
    signer: Signer,
    dnsfunc: DnsFunc,
    tamper: Callable[[bytes], bytes],
) -> None:
    message = digest(identity, signer)
    changed = tamper(message)
    assert changed != message
    assert verifies(message, 0, dnsfunc) and verifies(message, 1, dnsfunc)
    assert not verifies(changed, 0, dnsfunc)
    assert not verifies(changed, 1, dnsfunc)


def test_sign_a_message_made_elsewhere(
    signer: Signer, dnsfunc: DnsFunc, records: dict[str, str]
) -> None:
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Receipts <receipts@example.org>"
    msg["To"] = "donor@example.com"
    msg["Subject"] = "Thank you  for your gift"
    msg.set_content("Thank you.\n   With spaces   \n")
    signed = signer.sign(msg.as_bytes())
    assert dkim.DKIM(signed).verify(idx=0, dnsfunc=dnsfunc)
    assert dkim.DKIM(signed).verify(idx=1, dnsfunc=dnsfunc)
    verify_all(signed, records)


def test_dns_records_match_the_keys(signer: Signer, records: dict[str, str]) -> None:
    published = {r.name: r.value for r in signer.dns_records()}
    assert published == records
    line = DnsRecord("s._domainkey.example.org", "v=DKIM1; k=rsa; p=" + "A" * 400).zone_line()
    strings = re.findall(r'"([^"]*)"', line)
    assert [len(s) for s in strings] == [255, 163]
    assert line.startswith('s._domainkey.example.org IN TXT "v=DKIM1; k=rsa; p=AAA')


def test_dkimpy_style_ed25519_key_is_accepted(
    rsa_key: tuple[bytes, str], dnsfunc: DnsFunc, identity: Identity
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signer = Signer("nl2026", "example.org", rsa_key[0], ed25519=("other", base64.b64encode(seed)))
    message = digest(identity, signer)
    records = {
        "other._domainkey.example.org": f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"
    }
    assert verifies(message, 0, lambda name, **_: records[name.decode().rstrip(".")].encode())


@pytest.mark.parametrize(
    "pem", [b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
)
def test_unreadable_keys_are_config_errors(pem: bytes) -> None:
    with pytest.raises(ConfigError):
        Signer("s", "example.org", pem)


def test_weak_or_wrong_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- to be refused
    pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="1024 bits"):
        Signer("s", "example.org", pem)
    with pytest.raises(ConfigError, match="selector"):
        Signer("bad selector", "example.org", pem)


def test_signer_from_settings(
    tmp_path: Path, settings: Settings, rsa_key: tuple[bytes, str], ed_key: tuple[bytes, str]
) -> None:
    assert wiring.signer(settings) is None
    (tmp_path / "rsa.pem").write_bytes(rsa_key[0])
    (tmp_path / "ed.pem").write_bytes(ed_key[0])
    configured = settings.model_copy(
        update={
            "dkim_selector": "nl2026",
            "dkim_key_file": tmp_path / "rsa.pem",
            "dkim_ed25519_selector": "nl2026e",
            "dkim_ed25519_key_file": tmp_path / "ed.pem",
        }
    )
    made = wiring.signer(configured)
    assert made is not None
    assert [r.name for r in made.dns_records()] == [
        "nl2026._domainkey.example.org",
        "nl2026e._domainkey.example.org",
    ]
    missing = configured.model_copy(update={"dkim_key_file": tmp_path / "nope.pem"})
    with pytest.raises(ConfigError, match=r"nope\.pem"):
        wiring.signer(missing)
    half = settings.model_copy(update={"dkim_selector": "nl2026"})
    with pytest.raises(ConfigError, match="KEY_FILE"):
        wiring.signer(half)
    no_ed_selector = configured.model_copy(update={"dkim_ed25519_selector": ""})
    with pytest.raises(ConfigError, match="ED25519_SELECTOR"):
        wiring.signer(no_ed_selector)
