"""Which addresses a first import may already have written: a Bloom filter.

Before each batch the importer asks the database which of its addresses are already
on the list (to merge rather than insert them). On PostgreSQL that look-up cost the
server about as much as writing the batch: a million index probes on a first import,
almost all of them for addresses that cannot be there, because the list was empty
when the import began. So a first import remembers the addresses it has written in
a few megabytes of bits, and asks the database only about those the filter may have
seen: about one address in two hundred that it has not seen, and every one it has.
The filter never forgets: an address it answers "no" for was never added to it.
"""

from __future__ import annotations

from collections.abc import Iterable

_BITS_PER_KEY = 16  # with three probes: about 0.5% of unseen keys answered "maybe"
_PROBES = 3
_LOW = (1 << 32) - 1


class SeenKeys:
    """A fixed-size set of strings that may answer "maybe" for one it was never given."""

    def __init__(self, expected: int) -> None:
        bits = 1 << max(16, (max(expected, 1) * _BITS_PER_KEY - 1).bit_length())
        self._mask = bits - 1
        self._bits = bytearray(bits >> 3)

    def _positions(self, key: str) -> list[int]:
        h = hash(key)  # a string keeps its hash: computed once, whoever asks
        first, step = h & _LOW, ((h >> 32) & _LOW) | 1
        mask = self._mask
        return [(first + i * step) & mask for i in range(_PROBES)]

    def update(self, keys: Iterable[str]) -> None:
        bits = self._bits
        for key in keys:
            for p in self._positions(key):
                bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        bits = self._bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))
