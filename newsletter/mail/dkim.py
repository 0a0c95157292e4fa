"""DKIM signatures (RFC 6376, relaxed/relaxed) made with ``cryptography``.

dkimpy's own RSA is pure Python, far slower a signature; ``cryptography`` calls
OpenSSL. Canonicalisation is done here so the message builder can hand over header
lines and a body hash it already computed, instead of re-parsing every message.
RSA-SHA256 is always made; an Ed25519-SHA256 signature (RFC 8463) can be added
beside it for receivers that understand it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from newsletter.errors import ConfigError

__all__ = [
    "SIGNED_HEADERS",
    "DnsRecord",
    "Signer",
    "body_hash",
    "generate_ed25519",
    "generate_rsa",
    "relaxed_body",
    "relaxed_header",
    "txt_strings",
]

# What the signature covers, in this order, when present. Reply-To is added because
# a forged Reply-To is how a hijacked copy would divert donations questions.
SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
)
# Listed once more than present, so nobody can add a second copy after signing.
_OVERSIGNED = frozenset(("from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post"))
_PKCS1, _SHA256 = padding.PKCS1v15(), hashes.SHA256()
_MIN_RSA_BITS = 2048  # RFC 8301: 1024 is the floor, 2048 what receivers expect now
_WSP = re.compile(rb"[ \t]+")
_WSP_RUN = re.compile(rb"[ \t]{2,}|\t")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
_SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9_-]+)*")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}")


@lru_cache(maxsize=256)  # a campaign's fixed fields (From, List-Id...) recur in every copy
def relaxed_header(line: bytes) -> bytes:
    """Relaxed header canonical form of one raw header field (may be folded, ends CRLF)."""
    name, _, value = line.partition(b":")
    value = value.removesuffix(b"\r\n")
    if b"\n" in value or b"\t" in value or b"  " in value:
        value = _WSP.sub(b" ", value.replace(b"\r\n", b"").replace(b"\n", b""))
    return name.strip(b" \t").lower() + b":" + value.strip(b" ") + b"\r\n"


@lru_cache(maxsize=64)  # a campaign's copies all have the same fields in the same order
def _picks(names: tuple[bytes, ...]) -> tuple[str, tuple[int, ...]]:
    """The h= list for fields with these (lower-case) names, and which field each
    entry signs: instances are picked bottom-up, as verifiers do (RFC 6376 5.4.2),
    and an over-signed name past its last instance signs nothing."""
    remaining: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        remaining.setdefault(name.decode("ascii", "replace"), []).append(i)
    order = [h for h in SIGNED_HEADERS if h in remaining]
    h_list = [*order, *(h for h in order if h in _OVERSIGNED)]
    picked = []
    for h in h_list:
        stack = remaining[h]
        if stack:
            picked.append(stack.pop())
    return ":".join(h_list), tuple(picked)


def relaxed_line(line: bytes) -> bytes:
    """Relaxed body canonical form of one body line *without* its line ending."""
    if b"\t" in line or b"  " in line:
        line = _WSP_RUN.sub(b" ", line)
    return line.rstrip(b" ") + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    """Relaxed body canonical form of a whole CRLF body (RFC 6376 section 3.4.4)."""
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    if b" \r\n" in body:
        body = _TRAILING_WSP.sub(b"\r\n", body)
    body = body.rstrip(b"\r\n")
    if body.endswith(b" "):
        body = body.rstrip(b" ")
    return body + b"\r\n" if body else b""


def body_hash(canonical_body: bytes) -> bytes:
    return hashlib.sha256(canonical_body).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class DnsRecord:
    """A TXT record to publish: ``name`` (``sel._domainkey.example.org``) and ``value``."""

    name: str
    value: str

    def zone_line(self) -> str:
        """``name IN TXT "..." "..."``: the value split into 255-character strings."""
        parts = " ".join(f'"{chunk}"' for chunk in txt_strings(self.value))
        return f"{self.name} IN TXT {parts}"


def txt_strings(value: str, size: int = 255) -> list[str]:
    """A TXT value cut into the <= 255-byte character-strings DNS can carry."""
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def _rsa_record(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={_b64(der)}"


def _ed25519_record(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={_b64(raw)}"


def generate_rsa(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA key: (PKCS#8 PEM private key, DNS TXT value)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, _rsa_record(key.public_key())


def generate_ed25519() -> tuple[bytes, str]:
    """A new Ed25519 key: (PKCS#8 PEM private key, DNS TXT value)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, _ed25519_record(key.public_key())


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("ascii", "replace") if isinstance(data, str) else data


def _load_rsa(pem: bytes | str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"the DKIM RSA key is not a readable PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("the DKIM key is not an RSA key (use --ed25519 keys as the second key)")
    if key.key_size < _MIN_RSA_BITS:
        raise ConfigError(f"the DKIM RSA key has {key.key_size} bits; use 2048")
    return key


def _load_ed25519(data: bytes | str) -> Ed25519PrivateKey:
    raw = _as_bytes(data)
    try:
        if b"-----BEGIN" in raw:
            key = serialization.load_pem_private_key(raw, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError("the DKIM Ed25519 key file holds another kind of key")
            return key
        if len(raw) != 32:  # dkimpy's format: the base64 of the 32-byte seed
            raw = base64.b64decode(raw.strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"the DKIM Ed25519 key is not readable ({exc})") from None


def _check_name(kind: str, value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(value):
        raise ConfigError(f"bad DKIM {kind}: {value!r}")
    return value


def _fold_b64(value: str, first: int) -> str:
    """Fold a long base64 value over several lines (whitespace inside b= is ignored)."""
    out = [value[:first]]
    out.extend(value[i : i + 72] for i in range(first, len(value), 72))
    return "\r\n ".join(out)


class Signer:
    """Signs finished messages for one domain: RSA-SHA256, optionally Ed25519-SHA256 too."""

    def __init__(
        self,
        selector: str,
        domain: str,
        rsa_private_pem: bytes | str,
        ed25519: tuple[str, bytes | str] | None = None,
    ) -> None:
        self.selector = _check_name("selector", selector, _SELECTOR)
        self.domain = _check_name("domain", domain.lower(), _DOMAIN)
        self._rsa = _load_rsa(rsa_private_pem)
        self._ed: tuple[str, Ed25519PrivateKey] | None = None
        if ed25519 is not None:
            ed_selector = _check_name("Ed25519 selector", ed25519[0], _SELECTOR)
            self._ed = (ed_selector, _load_ed25519(ed25519[1]))

    def dns_records(self) -> list[DnsRecord]:
        """The TXT records that must be published for receivers to verify."""
        records = [
            DnsRecord(
                f"{self.selector}._domainkey.{self.domain}", _rsa_record(self._rsa.public_key())
            )
        ]
        if self._ed is not None:
            sel, key = self._ed
            records.append(
                DnsRecord(f"{sel}._domainkey.{self.domain}", _ed25519_record(key.public_key()))
            )
        return records

    def sign(self, message: bytes, *, now: int | None = None) -> bytes:
        """Return ``message`` with DKIM-Signature field(s) on top (line endings become CRLF)."""
        message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            head, body = message, b""
        lines: list[bytes] = []
        for raw in (head + b"\r\n").split(b"\r\n")[:-1]:
            if raw[:1] in (b" ", b"\t") and lines:
                lines[-1] += raw + b"\r\n"
            else:
                lines.append(raw + b"\r\n")
        fields = self.signature_fields(lines, body_hash(relaxed_body(body)), now=now)
        return fields + message

    def signature_fields(
        self, header_lines: Sequence[bytes], bh: bytes, *, now: int | None = None
    ) -> bytes:
        """DKIM-Signature field(s) (CRLF-terminated) for these raw header fields and body hash.

        ``header_lines`` are the message's fields in order, each ``Name: value\\r\\n``
        (folded lines keep their CRLF+WSP continuations).
        """
        names = tuple(line[: line.find(b":")].strip().lower() for line in header_lines)
        h_list, picked = _picks(names)
        signed = b"".join([relaxed_header(header_lines[i]) for i in picked])
        stamp = int(time.time() if now is None else now)
        tags = (
            f"c=relaxed/relaxed; d={self.domain};\r\n t={stamp}; h={h_list};\r\n"
            f" bh={_b64(bh)};\r\n b="
        )
        fields = self._field(
            f"v=1; a=rsa-sha256; s={self.selector}; {tags}",
            signed,
            lambda data: self._rsa.sign(data, _PKCS1, _SHA256),
        )
        if self._ed is not None:
            ed_sel, ed_key = self._ed
            fields = (
                self._field(
                    f"v=1; a=ed25519-sha256; s={ed_sel}; {tags}",
                    signed,
                    lambda data: ed_key.sign(hashlib.sha256(data).digest()),
                )
                + fields
            )
        return fields

    @staticmethod
    def _field(tags: str, signed: bytes, make: Callable[[bytes], bytes]) -> bytes:
        unsigned = f"DKIM-Signature: {tags}".encode("ascii")
        # The field itself, relaxed, no final CRLF: its folds unfolded. The tags hold no
        # other blanks to collapse (selector, domain, names and base64 have none).
        data = signed + b"dkim-signature:" + tags.replace("\r\n", "").encode("ascii")
        value = _b64(make(data))
        return unsigned + _fold_b64(value, 70).encode("ascii") + b"\r\n"
