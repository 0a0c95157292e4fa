"""A second, deliberately separate DKIM verifier for the tests (besides dkimpy).

Written straight from RFC 6376 / RFC 8463 with different code from the signer's:
headers are unfolded with a regex, the body is canonicalised line by line, and the
signature is checked with ``cryptography`` against the key from the fake DNS record.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _fields(head: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, raw field including folds) in order."""
    raw = re.findall(rb"[^\r\n]+(?:\r\n[ \t][^\r\n]*)*", head)
    return [(f.split(b":", 1)[0].strip().decode().lower(), f) for f in raw]


def _canon_header(field: bytes) -> bytes:
    name, value = field.split(b":", 1)
    unfolded = re.sub(rb"\r\n(?=[ \t])", b"", value)
    collapsed = re.sub(rb"[ \t]+", b" ", unfolded).strip(b" \t")
    return name.strip().lower() + b":" + collapsed


def _canon_body(body: bytes) -> bytes:
    lines = body.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [re.sub(rb"[ \t]+", b" ", line).rstrip(b" ") for line in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"".join(line + b"\r\n" for line in out)


def _tags(value: bytes) -> dict[str, str]:
    text = re.sub(r"\s+", "", value.decode())
    return dict(part.split("=", 1) for part in text.split(";") if part)


def verify_all(message: bytes, records: dict[str, str]) -> list[str]:
    """Check every DKIM-Signature; return their ``a=`` values, raise AssertionError if bad."""
    message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, body = message.split(b"\r\n\r\n", 1)
    fields = _fields(head + b"\r\n")
    algorithms = []
    for name, field in fields:
        if name != "dkim-signature":
            continue
        tags = _tags(field.split(b":", 1)[1])
        assert tags["v"] == "1" and tags["c"] == "relaxed/relaxed", tags
        assert base64.b64decode(tags["bh"]) == hashlib.sha256(_canon_body(body)).digest(), "bh"
        pool = [(n, f) for n, f in fields if n != "dkim-signature"]
        data = b""
        for wanted in tags["h"].lower().split(":"):
            for i in range(len(pool) - 1, -1, -1):
                if pool[i][0] == wanted:
                    data += _canon_header(pool.pop(i)[1]) + b"\r\n"
                    break
        unsigned = re.sub(rb"(\bb=)[^;]*$", rb"\1", field)
        data += _canon_header(unsigned)
        signature = base64.b64decode(tags["b"])
        record = _tags(records[f"{tags['s']}._domainkey.{tags['d']}"].encode())
        key = base64.b64decode(record["p"])
        if tags["a"] == "rsa-sha256":
            public = serialization.load_der_public_key(key)
            assert isinstance(public, rsa.RSAPublicKey)
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert tags["a"] == "ed25519-sha256", tags["a"]
            Ed25519PublicKey.from_public_bytes(key).verify(signature, hashlib.sha256(data).digest())
        algorithms.append(tags["a"])
    return algorithms
