"""``newsletter bounces process SOURCE``: read returned mail and apply the bounce policy."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database, wiring
from newsletter.campaigns.bounces import mailbox, parse, process, verdict
from newsletter.campaigns.models import BounceEvent
from newsletter.cli.common import console, settings
from newsletter.config import Settings

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
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Show, message by message, what would be recorded and why; change nothing.",
    ),
) -> None:
    """Parse DSN bounces and ARF complaints, record them, suppress per the policy."""
    cfg = settings()
    sessions = wiring.sessions(cfg)
    if dry_run:
        _dry_run(cfg, sessions, source)
        return
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
        total.not_reports += done.stray_notices
        total.suppressed.extend(done.suppressed)
    _print_summary(total)


def _print_summary(total: process.Summary) -> None:
    table = Table(
        "read", "hard", "soft", "policy", "complaints", "delayed", "auto-replies",
        "already seen", "untraced", "not a report",
    )  # fmt: skip
    table.add_row(
        str(total.messages),
        str(total.events["hard"]),
        str(total.events["soft"]),
        str(total.events["policy"]),
        str(total.events["complaint"]),
        str(total.events["delayed"]),
        str(total.events["auto-reply"]),
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


_KIND_WORDS = {
    "hard": "hard bounce",
    "soft": "soft bounce",
    "policy": "refusal of our mail (never counted)",
    "complaint": "complaint",
    "delayed": "delay warning (never counted)",
    "auto-reply": "automatic reply (never counted)",
}


def _dry_run(cfg: Settings, sessions: sessionmaker[Session], source: str) -> None:
    """Every message's verdict, the rule behind it and its effect, then roll it all back.

    The events are applied for real inside one transaction that is never committed, so
    what is shown (including who would be suppressed, given earlier bounces) is exactly
    what ``process`` would do now.
    """
    with sessions() as session:
        try:
            count = 0
            for count, raw in enumerate(mailbox.read(source), start=1):
                report = parse.parse(raw)
                found = verdict.decide(report, raw)
                label = report.message_id or "(no Message-ID)"
                _say(f"{count}. {label} from {report.sender or 'nobody named'}")
                if found.kind is None:
                    _say(f"   {found.rule}: nothing would be recorded")
                    continue
                _say(f"   {_KIND_WORDS[found.kind]}: {found.rule}")
                if found.recipient:
                    _say(f"   the report names {found.recipient}")
                events = process.event_from_verdict(cfg, report, raw, found)
                done = process.apply(session, cfg, events)
                _say(f"   {_effect(events[0], done)}")
            _say(f"Dry run: {count} message(s) read, nothing recorded or changed.")
        finally:
            session.rollback()


def _say(line: str) -> None:
    """A line of the report as written: addresses and brackets are not Rich markup."""
    console.print(line, highlight=False, markup=False)


def _effect(event: process.Event, done: process.Summary) -> str:
    who = (
        f"reader #{event.subscriber_id}"
        + (f" in campaign {event.campaign_id}" if event.campaign_id else "")
        if event.subscriber_id is not None
        else ""
    )
    if done.duplicates:
        return "already recorded: nothing would change"
    if done.erased:
        return "about an erased person: only its fingerprint would be kept"
    if done.stray_notices:
        return "not traced to a reader of ours, and never counted: nothing would be recorded"
    if done.unidentified:
        return (
            "not traced to our mail (no valid return-path token or Message-ID): "
            "would be kept for review, nobody marked"
        )
    if done.suppressed:
        address, reason = done.suppressed[0]
        return f"{who}: would suppress {address} ({reason})"
    if event.kind in verdict.NEVER_COUNTED:
        return f"{who}: would be recorded, never counted against the address"
    return f"{who}: would be recorded; not over the limit for suppression yet (or not active)"


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
