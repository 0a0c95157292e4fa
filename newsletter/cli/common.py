"""What every command shares: settings loading and the Rich consoles."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from rich.console import Console

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.config import Settings

console = Console()
err_console = Console(stderr=True)


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
