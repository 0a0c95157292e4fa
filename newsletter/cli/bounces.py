"""`newsletter bounces ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="bounces commands.", no_args_is_help=True)
