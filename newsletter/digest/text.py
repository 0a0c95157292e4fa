"""Plain-text layout helpers (Jinja filters for ``digest.txt.j2``).

The text part is read by people in terminals and by accessibility tools: wrapped near
72 columns, headings underlined, URLs never broken across lines (so they stay clickable).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from functools import lru_cache

from newsletter.digest.inline import Reference

WIDTH = 72


@lru_cache(maxsize=4096)  # an email in another order of its sections repeats most of its text
def wrap(text: str, width: int = WIDTH, indent: str = "", hanging: str | None = None) -> str:
    """Fill each paragraph of ``text`` to ``width``; long words (URLs) stay whole."""
    blocks = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(
        textwrap.fill(
            block,
            width=width,
            initial_indent=indent,
            subsequent_indent=indent if hanging is None else hanging,
            break_long_words=False,
            break_on_hyphens=False,
        )
        if block
        else ""
        for block in blocks
    )


def bullet(text: str) -> str:
    """A list item with a hanging indent."""
    return wrap(text, indent="  * ", hanging="    ")


def underline(text: str, char: str = "=") -> str:
    """A heading wrapped to the width and underlined as long as its longest line."""
    lines = wrap(text).splitlines() or [""]
    return "\n".join([*lines, char * max(len(line) for line in lines)])


def references(items: Iterable[Reference]) -> str:
    """``[n] label: URL`` for the links cited just above; the URL on its own line if long."""
    lines: list[str] = []
    for ref in items:
        head = f"[{ref.number}] {ref.label}" if ref.label and ref.label != ref.url else ""
        one_line = f"{head}: {ref.url}" if head else f"[{ref.number}] {ref.url}"
        if len(one_line) <= WIDTH:
            lines.append(one_line)
        else:
            if head:
                lines.append(wrap(head, hanging="    "))
            lines.append(f"    {ref.url}" if head else one_line)
    return "\n".join(lines)
