"""``newsletter bounces process SOURCE``: read returned mail and apply the bounce policy."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import func, select

from newsletter import database, wiring
from newsletter.campaigns.bounces import mailbox, parse, process
from newsletter.campaigns.models import BounceEvent
from newsletter.cli.common import console, settings

app = typer.Typer(
    help="Read bounces and complaints; suppress addresses by policy.", no_args_is_help=True
)


@app.command("process")
def process_(
    source: str = typer.Argument(
        ...,
        help=(
            "A Maildir, an mbox file, a folder of .eml files, or imaps://user:pw@host/INBOX "
            "(imap:// is plain only to this machine and uses STARTTLS elsewhere; add "
            "?starttls=1 to use STARTTLS to this machine too)."
        ),
    ),
) -> None:
    """Parse DSN bounces and ARF complaints, record them, suppress per the policy."""
    cfg = settings()
    sessions = wiring.sessions(cfg)
    total = process.Summary()
    for raw in mailbox.read(source):
        total.messages += 1
        report = parse.parse(raw)
        events = process.events_from_report(cfg, report, raw)
        if not events:
            total.not_reports += 1
            continue
        with database.transaction(sessions) as session:
            done = process.apply(session, cfg, events)
        total.events.update(done.events)
        total.duplicates += done.duplicates
        total.unidentified += done.unidentified
        total.erased += done.erased
        total.suppressed.extend(done.suppressed)
    table = Table(
        "read", "hard", "soft", "policy", "complaints", "already seen", "untraced", "not a report"
    )
    table.add_row(
        str(total.messages),
        str(total.events["hard"]),
        str(total.events["soft"]),
        str(total.events["policy"]),
        str(total.events["complaint"]),
        str(total.duplicates),
        str(total.unidentified),
        str(total.not_reports),
    )
    console.print(table)
    if total.erased:
        console.print(
            f"{total.erased} report(s) about erased people: stored without anything personal",
            highlight=False,
        )
    if total.unidentified:
        console.print(
            f"{total.unidentified} report(s) not traced to a subscriber (no token or "
            "Message-ID of ours: forged, or forwarded without our headers; or the person is "
            "gone): kept for review, nobody was marked. See them with: newsletter bounces list",
            highlight=False,
        )
    for address, reason in total.suppressed:
        console.print(f"suppressed {address} ({reason})", highlight=False)
    if total.suppressed:
        console.print("Reverse with: newsletter subscribers reactivate ADDRESS")


@app.command("list")
def list_(
    address: str | None = typer.Option(None, "--address", help="Only this address."),
    limit: int = typer.Option(50, "--limit", min=1),
) -> None:
    """Recent bounces and complaints with their evidence, newest first."""
    cfg = settings()
    query = select(BounceEvent).order_by(BounceEvent.received_at.desc(), BounceEvent.id.desc())
    if address:
        query = query.where(func.lower(BounceEvent.email) == address.strip().lower())
    with wiring.sessions(cfg)() as session:
        events = list(session.scalars(query.limit(limit)))
    table = Table("when", "address", "kind", "campaign", "evidence")
    for event in events:
        table.add_row(
            event.received_at.astimezone().strftime("%d %b %H:%M"),
            event.email,
            event.kind,
            str(event.campaign_id or ""),
            event.evidence,
        )
    console.print(table if events else "No bounces or complaints recorded.")
