"""``newsletter --help`` starts without the heavy libraries, and lists every command."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.cli.app import COMMANDS, load_command

# What the command line imported at start-up before its commands were loaded lazily.
HEAVY = (
    "stripe",
    "sqlalchemy",
    "sqlalchemy.orm",
    "alembic",
    "psycopg",
    "mjml",
    "pydantic",
    "jinja2",
)

PROBE = """
import json, sys
from newsletter.cli.app import main
sys.argv = ["newsletter", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _run(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
    )
    return done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_lists_every_command_without_importing_heavy_modules() -> None:
    out, modules = _run("--help")
    for name, lazy in COMMANDS.items():
        assert f" {name} " in out and lazy.summary in out
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_group_is_imported_when_it_is_used() -> None:
    out, modules = _run("campaign", "--help")
    assert "Create, send and follow campaigns." in out and "pause" in out
    assert {"sqlalchemy.orm", "newsletter.cli.campaign"} <= modules
    assert "newsletter.cli.donations" not in modules


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listing_shows_each_commands_own_help(name: str) -> None:
    """The summary the listing shows is the first paragraph of the real command's help."""
    command = load_command(name)
    assert command.name == name
    own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == own.replace("\n", " ").strip()


RUN = """
import atexit, sys
from newsletter.cli.app import run
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
sys.argv = ["newsletter", *sys.argv[1:]]
run()
"""


@pytest.mark.parametrize(
    ("args", "code", "out", "err"),
    [
        (["--help"], 0, "Create, send and follow campaigns.", ""),
        (["campaign", "status", "4242"], 1, "", "there is no campaign 4242"),
    ],
)
def test_the_installed_command_keeps_its_exit_code_output_and_exit_handlers(
    tmp_path: Path, args: list[str], code: int, out: str, err: str
) -> None:
    """``run`` leaves without the interpreter's teardown: nothing of the end may be lost."""
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
            "TERM": "dumb",
            "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}",
        },
    )
    assert done.returncode == code, done.stderr
    assert out in done.stdout and err in done.stderr
    assert done.stderr.rstrip().endswith("exit handler ran")
