"""HMAC-SHA256 with its key schedule done once, for the MACs computed per copy.

``hmac.new`` hashes the padded key on every call and ``HMAC.copy`` goes through
Python; a campaign signs several values per copy under one key and one prefix
(a purpose, a campaign), so the two padded-key states, with the prefix absorbed,
are kept and only copied. The result is RFC 2104 HMAC-SHA256, byte for byte.
"""

from __future__ import annotations

import hashlib

_BLOCK = 64  # SHA-256's block size: RFC 2104 pads (or first hashes) the key to it
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class Mac:
    """HMAC-SHA256 under ``key`` of messages that all start with ``prefix``."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, prefix: bytes = b"") -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._inner.update(prefix)
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, rest: bytes) -> bytes:
        """The HMAC of ``prefix + rest``."""
        inner = self._inner.copy()
        inner.update(rest)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
