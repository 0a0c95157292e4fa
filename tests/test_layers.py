"""Imports go one way (docs/architecture.md): ``subscribers`` never imports ``newsletter``, and
the domain packages never import the web app, the console or the command line."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBERS = ROOT / "subscribers"
DOMAIN = ("briefing", "digest", "mail", "campaigns", "donations", "staff")
EDGES = ("newsletter.web", "newsletter.cli", "newsletter.console")


def _imports(paths: Iterable[Path]) -> list[tuple[str, int, str]]:
    """(file, line, module) for every import statement in ``paths``."""
    found = []
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), node.lineno, name) for name in names]
    return found


def test_subscribers_never_imports_newsletter() -> None:
    offenders = [
        f"{where}:{line} {name}"
        for where, line, name in _imports(SUBSCRIBERS.rglob("*.py"))
        if name == "newsletter" or name.startswith("newsletter.")
    ]
    assert offenders == []


def test_the_domain_never_imports_the_web_app_the_console_or_the_cli() -> None:
    """Pages and commands call the domain; the domain never reaches back up to them."""
    paths = [p for package in DOMAIN for p in (ROOT / "newsletter" / package).rglob("*.py")]
    offenders = [
        f"{where}:{line} {name}" for where, line, name in _imports(paths) if name.startswith(EDGES)
    ]
    assert offenders == []
