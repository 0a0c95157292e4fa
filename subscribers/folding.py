"""Search keys: a person's address and name as the console's search compares them.

Lower case, accents taken off, dashes and apostrophes made plain, so "chloe" and
"CHLOÉ" both find "Chloé". Every write of an address or name stores ``key`` of it
(``Subscriber`` does on flush, the importer's bulk writes call it), and every query
is folded by ``fold``: the same function on both sides, or nothing would match.
"""

from __future__ import annotations

import functools
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

    ASCII text (most addresses and many names) skips the Unicode work, and so does
    each ASCII word of the rest; a word that needs it is folded once and remembered
    (first names and surnames repeat): the importer folds a million names. Every step
    maps character by character and whitespace stays whitespace, so folding word by
    word gives what folding the whole text would.
    """
    if text.isascii():
        return " ".join(text.lower().replace("`", "'").split())
    words = [w.lower().replace("`", "'") if w.isascii() else _fold_word(w) for w in text.split()]
    return " ".join(" ".join(words).split())


@functools.lru_cache(maxsize=1 << 16)
def _fold_word(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold().translate(_PLAIN))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.translate(_PLAIN)


def key(email_key: str, name: str) -> str:
    """The stored search key of a person: a space, the address, the name.

    The leading space makes the start of the address the start of a word like those
    of the name, so "a space and two letters" (a trigram) finds both.
    """
    return " " + fold(f"{email_key} {name}")
