"""`newsletter dkim ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="dkim commands.", no_args_is_help=True)
