"""Living with the command line: completion, help that reads right, whole lines in a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The installed script, as a shell runs it.
NEWSLETTER = [str(Path(sys.executable).parent / "newsletter")]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.pop("COLUMNS", None)
    env.update(
        NEWSLETTER_DATABASE_URL=f"sqlite:///{tmp_path / 'nl.db'}",
        NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"),
        **extra,
    )
    return env


def _complete(tmp_path: Path, words: str) -> list[str]:
    cword = str(len(words.split()) - 1)
    env = _env(tmp_path, _NEWSLETTER_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword)
    done = subprocess.run(
        [*NEWSLETTER], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    return done.stdout.split()


def test_the_shell_completes_commands_and_options(tmp_path: Path) -> None:
    assert _complete(tmp_path, "newsletter camp") == ["campaign"]
    assert {"send", "status"} <= set(_complete(tmp_path, "newsletter campaign s"))
    assert "--batch" in _complete(tmp_path, "newsletter campaign send --ba")
    shown = subprocess.run(
        [*NEWSLETTER, "--help"], env=_env(tmp_path), capture_output=True, text=True, check=True
    ).stdout
    assert "--install-completion" in shown


def test_help_shows_no_type_for_an_on_off_flag(tmp_path: Path) -> None:
    shown = subprocess.run(
        [*NEWSLETTER, "subscribers", "add", "--help"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "<bool>" not in shown
    assert "--pending" in shown and "<str>" in shown  # options that take a value keep theirs


def test_a_listing_piped_to_a_file_keeps_whole_cells(tmp_path: Path) -> None:
    name = "Dr Anneliese Montgomery-Featherstonehaugh of the Institute for Fiscal Studies"
    env = _env(tmp_path)
    subprocess.run(
        [*NEWSLETTER, "subscribers", "add", "anneliese@example.org", "--name", name],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    listing = subprocess.run(
        [*NEWSLETTER, "subscribers", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert name in listing and "anneliese@example.org" in listing
    assert "…" not in listing
