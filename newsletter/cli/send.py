"""``newsletter send-test FILE.md --to ADDRESS``: one real copy, before anyone else gets it."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import console, settings


def send_test(
    file: Path = typer.Argument(..., help="The briefing (.md with front matter)."),
    to: str = typer.Option(..., "--to", help="Where to deliver the test copy."),
    name: str = typer.Option("", "--name", help="Name to greet (as a subscriber's would be)."),
) -> None:
    """Deliver one fully personalised, signed copy through the configured transport."""
    from newsletter import wiring
    from newsletter.briefing import markdown
    from newsletter.digest import sample
    from newsletter.mail.message import check_address

    cfg = settings()
    check_address(to.strip(), "--to address")
    transport = wiring.transport(cfg)  # a bad SMTP URL fails here, before any work
    briefing = markdown.load(file)
    (copy,) = sample.send_test(
        briefing, cfg, transport, wiring.signer(cfg), [to], name=name, what="--to address"
    )
    signed = "DKIM-signed" if copy.signed else "not signed (no DKIM key configured)"
    console.print(
        f"sent {copy.subject!r} to {copy.address} ({copy.size:,} bytes, {signed}): "
        f"{copy.code} {copy.reply}",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``send-test`` to the top-level app."""
    app.command("send-test")(send_test)
