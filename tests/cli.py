"""Running ``newsletter`` through its real entry point inside a test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from newsletter.cli import common
from newsletter.cli.app import main


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> int:
    """The exit code of ``newsletter ARGS`` run in ``tmp_path`` (no developer .env, var/
    under tmp), with ``NEWSLETTER_<KEY>`` set from ``env`` and a wide, unwrapped console."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_PUBLIC_BASE_URL", "https://news.example.org")
    for key, value in env.items():
        monkeypatch.setenv(f"NEWSLETTER_{key.upper()}", value)
    monkeypatch.setattr(sys, "argv", ["newsletter", *args])
    monkeypatch.setattr(common.console, "width", 400)
    monkeypatch.setattr(common.err_console, "width", 400)
    common.settings.cache_clear()
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        common.settings.cache_clear()
    return 0
