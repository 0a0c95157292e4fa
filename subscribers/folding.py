"""Search keys: a person's address and name as the console's search compares them.

Lower case, accents taken off, dashes and apostrophes made plain, so "chloe" and
"CHLOÉ" both find "Chloé". Every write of an address or name stores ``key`` of it
(``Subscriber`` does on flush, the importer's bulk writes call it), and every query
is folded by ``fold``: the same function on both sides, or nothing would match.
"""

from __future__ import annotations

import unicodedata

# Letters NFKD leaves whole, and punctuation people type in more than one way.
_PLAIN = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
        "ı": "i",
        "’": "'",
        "‘": "'",
        "ʼ": "'",
        "`": "'",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
    }
)


def fold(text: str) -> str:
    """``text`` as searched: lower case, no accents, one space between words.

    ASCII text (most addresses and many names) skips the Unicode work: the importer
    folds a million of them.
    """
    if text.isascii():
        return " ".join(text.lower().replace("`", "'").split())
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_PLAIN))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.translate(_PLAIN).split())


def key(email_key: str, name: str) -> str:
    """The stored search key of a person: a space, the address, the name.

    The leading space makes the start of the address the start of a word like those
    of the name, so "a space and two letters" (a trigram) finds both.
    """
    return " " + fold(f"{email_key} {name}")
