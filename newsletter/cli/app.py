"""The ``newsletter`` command line: wires the command groups and turns errors into one line."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from newsletter.cli import (
    bounces,
    briefing,
    campaign,
    db,
    dkim,
    donations,
    render,
    send,
    serve,
    subscribers,
    worker,
)
from newsletter.cli.common import err_console
from newsletter.errors import NewsletterError

app = typer.Typer(
    name="newsletter",
    help="Publish briefing papers by email and raise money from their readers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
render.register(briefing.app)
app.add_typer(briefing.app, name="briefing")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(campaign.app, name="campaign")
app.add_typer(bounces.app, name="bounces")
app.add_typer(donations.app, name="donations")
app.add_typer(dkim.app, name="dkim")
app.add_typer(db.app, name="db")
send.register(app)
serve.register(app)
worker.register(app)


def main() -> None:
    """Entry point: user mistakes print ``error: ...`` and exit 1, never a traceback."""
    try:
        app()
    except NewsletterError as exc:
        message = f"[bold red]error:[/] {escape(str(exc))}"
        err_console.print(message, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
