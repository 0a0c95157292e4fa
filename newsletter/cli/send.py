"""``newsletter send-test FILE.md --to ADDRESS``: one real copy, before anyone else gets it."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli.common import console, settings
from newsletter.errors import TransportError
from newsletter.mail.transports.base import DeliveryStatus


class DeliveryRefused(TransportError):
    """The server answered the test copy with a transient or permanent failure."""


def send_test(
    file: Path = typer.Argument(..., help="The briefing (.md with front matter)."),
    to: str = typer.Option(..., "--to", help="Where to deliver the test copy."),
    name: str = typer.Option("", "--name", help="Name to greet (as a subscriber's would be)."),
) -> None:
    """Deliver one fully personalised, signed copy through the configured transport."""
    from newsletter import wiring
    from newsletter.briefing import markdown
    from newsletter.digest import Personal, render_digest
    from newsletter.links import recipient_links
    from newsletter.mail.message import check_address

    cfg = settings()
    address = check_address(to.strip(), "--to address")
    transport = wiring.transport(cfg)  # a bad SMTP URL fails here, before any work
    signer = wiring.signer(cfg)
    briefing = markdown.load(file)
    digest = render_digest(briefing, cfg)
    links = recipient_links(cfg, subscriber_id=0, campaign_id=None, briefing_slug=briefing.slug)
    person = Personal(name, address, links)
    message = digest.message(wiring.identity(cfg, kind="test"), person, signer)
    with transport:
        result = transport.send(cfg.sender_address, address, message)
    if result.status is not DeliveryStatus.SENT:
        raise DeliveryRefused(
            f"{address}: {result.status.value} failure {result.code} {result.reply}".rstrip()
        )
    signed = "DKIM-signed" if signer else "not signed (no DKIM key configured)"
    console.print(
        f"sent {digest.subject!r} to {address} ({len(message):,} bytes, {signed}): "
        f"{result.code} {result.reply}",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``send-test`` to the top-level app."""
    app.command("send-test")(send_test)
