"""``newsletter --help`` starts without the heavy libraries, and lists every command."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

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
