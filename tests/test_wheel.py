"""The wheel is the product as an organisation installs it: it must render and send on its own.

An editable install reads templates and migrations from the checkout, so it cannot show a file
the wheel forgot. This builds the wheel from a copy of the sources, installs it (without its
dependencies, which come from the test environment) into a fresh virtual environment, and runs
import -> render -> send-test from a folder far from the checkout.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
from email.policy import default
from pathlib import Path

from tests.conftest import ROOT, SEED_PAPER

SOURCES = ("pyproject.toml", "setup.py", "README.md", "newsletter", "subscribers", "templates")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_an_installed_wheel_imports_renders_and_sends(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."], source, env)
    (wheel,) = wheels.glob("newsletter-*.whl")

    # The fresh environment's own pip installs the wheel: the test environment's pip would
    # first uninstall the checkout's editable install there.
    fresh = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", str(fresh)], tmp_path, env)
    fresh_pip = [str(fresh / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*fresh_pip, "install", "--no-deps", "--no-index", str(wheel)], tmp_path, env)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(fresh), "platbase": str(fresh)}))
    # Then the dependencies, not the package: a plain path line runs none of the editable hooks.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = str(fresh / "bin" / "python")
    where = _run([python, "-c", "import newsletter; print(newsletter.__file__)"], tmp_path, env)
    assert where.startswith(str(fresh)), where

    work = tmp_path / "office"
    work.mkdir()
    env |= {
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{work / 'newsletter.db'}",
        "NEWSLETTER_OUTBOX_DIR": str(work / "outbox"),
    }
    cli = [python, "-m", "newsletter"]
    _run([*cli, "briefing", "import", str(SEED_PAPER), "-o", "paper.md"], work, env)
    _run([*cli, "briefing", "render", "paper.md", "--out", "rendered"], work, env)
    assert "Donate" in (work / "rendered" / "digest.html").read_text()
    _run([*cli, "send-test", "paper.md", "--to", "reader@example.org"], work, env)
    (copy,) = (work / "outbox" / "new").iterdir()
    message = email.message_from_bytes(copy.read_bytes(), policy=default)
    assert message["To"] == "reader@example.org"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Donate" in html.get_content()
