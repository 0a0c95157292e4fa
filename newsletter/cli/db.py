"""``newsletter db ...``: schema upgrades."""

from __future__ import annotations

import typer

from newsletter.cli.common import console, settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration (commands also do this by themselves)."""
    from newsletter import database

    engine = database.make_engine(settings().database_url)
    database.upgrade(engine)
    console.print(f"database is up to date ({engine.url.render_as_string(hide_password=True)})")
