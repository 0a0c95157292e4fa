"""The `newsletter serve` command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this command to the top-level app."""
