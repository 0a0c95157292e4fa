"""What every command shares: settings loading and the Rich consoles."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from rich.console import Console

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.config import Settings

PIPED_WIDTH = 1000  # wide enough that no table cell is cut when output goes to a file


def _console(stderr: bool = False) -> Console:
    """A terminal's own width; a pipe or file gets whole lines instead of Rich's 80 columns.

    Staff paste listings into spreadsheets and e-mails: a total cut to ``£1,082…`` there is
    worse than a long line. ``COLUMNS`` still wins where it is set.
    """
    probe = Console(stderr=stderr)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(stderr=stderr, width=PIPED_WIDTH)


console = _console()
err_console = _console(stderr=True)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """Load settings once per process; a bad value becomes one clear ``ConfigError``.

    Pydantic is imported here, not at start-up: ``--help`` never needs it.
    """
    from pydantic import ValidationError

    from newsletter.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSLETTER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"bad setting: {problems}") from None
