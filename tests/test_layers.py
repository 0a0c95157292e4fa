"""The subscriber domain stays below the product: it never imports ``newsletter``."""

from __future__ import annotations

import ast
from pathlib import Path

SUBSCRIBERS = Path(__file__).resolve().parents[1] / "subscribers"


def test_subscribers_never_imports_newsletter() -> None:
    offenders = []
    for path in sorted(SUBSCRIBERS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.name}:{node.lineno} {name}"
                for name in names
                if name == "newsletter" or name.startswith("newsletter.")
            ]
    assert offenders == []


DOMAIN = ("briefing", "digest", "mail", "campaigns", "donations", "staff")
EDGES = ("newsletter.web", "newsletter.cli", "newsletter.console")


def test_the_domain_never_imports_the_web_app_the_console_or_the_cli() -> None:
    """Pages and commands call the domain; the domain never reaches back up to them."""
    root = SUBSCRIBERS.parent / "newsletter"
    offenders = []
    for package in DOMAIN:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                else:
                    continue
                offenders += [
                    f"{path.relative_to(root)}:{node.lineno} {name}"
                    for name in names
                    if name.startswith(EDGES)
                ]
    assert offenders == []
