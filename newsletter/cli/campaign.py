"""`newsletter campaign ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="campaign commands.", no_args_is_help=True)
