"""`newsletter subscribers ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="subscribers commands.", no_args_is_help=True)
