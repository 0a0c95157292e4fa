"""Slugs: the ASCII, lower-case, hyphenated names lists, topics and tags are found by.

Its own module because lists and tags both need it and ``audience`` imports both: taking
it from ``lists`` made the import order decide whether the package loaded at all.
"""

from __future__ import annotations

import re
import unicodedata


def slugify(name: str) -> str:
    """ASCII, lower case, hyphens: "Nuclear weapons" -> "nuclear-weapons"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:100]
