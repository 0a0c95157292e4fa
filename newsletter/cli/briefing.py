"""`newsletter briefing ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="briefing commands.", no_args_is_help=True)
