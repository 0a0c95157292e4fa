"""The ``newsletter`` fixture: the console script run in this process, as staff type it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.cli.app import main


@pytest.fixture
def newsletter(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The console script's entry point run in this process (a fresh process costs seconds)."""

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["newsletter", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        code = exited.value.code
        return subprocess.CompletedProcess(
            list(args), code if isinstance(code, int) else 1, captured.out, captured.err
        )

    return run
