"""`newsletter donations ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="donations commands.", no_args_is_help=True)
