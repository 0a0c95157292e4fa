"""Accessibility checks in real Chromium with axe-core (vendored under tests/vendor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, plus axe's best practices a screen-reader user notices (landmarks, headings).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def violations(page: Any) -> list[str]:
    """axe's findings on the page as it is now, one line each (empty when clean).

    The browser context must be made with ``bypass_csp=True``: the pages forbid inline
    scripts, and axe is injected as one.
    """
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => v.id + ': ' + v.help + ' -> ' +"
        " v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))",
        TAGS,
    )
    return list(found)


def scrolls_sideways(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))
