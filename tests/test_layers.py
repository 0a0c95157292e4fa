"""Imports go one way (docs/architecture.md): ``subscribers`` never imports ``newsletter``,
the domain packages never import the web app, the console, the command line or the wiring,
and the pure modules load no database code."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

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


def test_the_domain_never_builds_its_own_adapters() -> None:
    """Engines, transports, signers and the Stripe gateway are built at the edges (commands,
    the app factory, a helper process's entry) from ``newsletter.wiring`` and passed in."""
    paths = [p for package in DOMAIN for p in (ROOT / "newsletter" / package).rglob("*.py")]
    paths += [ROOT / "newsletter" / "signup.py"]
    offenders = []
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            else:
                continue
            if "newsletter.wiring" in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


PURE = (
    "newsletter.donations.checkout",
    "newsletter.campaigns.bounces.classify",
    "newsletter.campaigns.retry",
)


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_database_code(module: str) -> None:
    """Importing a pure module (and everything it imports in turn) loads no SQLAlchemy and
    no table: its enums come from the plain ``states`` modules."""
    probe = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy' "
        "or m.endswith('.models') or m == 'subscribers.orm'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


# An HTTP answer, not an error of ours: Starlette turns it into a 413 response.
NOT_OURS = {"newsletter.web.limits.BodyTooLarge"}


def test_every_error_of_ours_is_a_newsletter_error() -> None:
    """One tree: a caller catching ``NewsletterError`` catches every refusal we raise."""
    import importlib
    import inspect
    import pkgutil

    import newsletter
    import subscribers
    from newsletter.errors import NewsletterError

    outside = []
    for package in (newsletter, subscribers):
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" in found.name or found.name.endswith(("__main__", ".demo")):
                continue
            module = importlib.import_module(found.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                    and not issubclass(value, NewsletterError)
                    and f"{module.__name__}.{name}" not in NOT_OURS
                ):
                    outside.append(f"{module.__name__}.{name}")
    assert outside == []
