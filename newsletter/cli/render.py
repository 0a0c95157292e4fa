"""``newsletter briefing render``."""

from __future__ import annotations

import typer


def register(briefing_app: typer.Typer) -> None:
    """Add ``render`` to the ``briefing`` group."""
