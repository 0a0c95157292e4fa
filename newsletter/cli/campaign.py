"""``newsletter campaign ...``: create, check, send and follow campaigns."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.core import TyperCommand

from newsletter import database, links, startup, wiring
from newsletter.briefing import lint, markdown
from newsletter.campaigns import archive, composer, heartbeat, manager, sendtime
from newsletter.campaigns.ledger import Claimed, Ledger, campaign_audience
from newsletter.campaigns.pool import ComposePool
from newsletter.campaigns.states import CampaignStatus, RecipientState
from newsletter.cli.common import console, settings
from newsletter.cli.worker import run_with_progress
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.mail.transports.base import DeliveryStatus
from newsletter.worker_factory import compose_pool
from subscribers import audience, tags
from subscribers import topics as subscriber_topics
from subscribers.models import MailingList
from subscribers.orm import utcnow

if TYPE_CHECKING:  # typer's own copy of click (a private module): for annotations only
    from typer import _click as click

app = typer.Typer(help="Create, send and follow campaigns.", no_args_is_help=True)


class ZoneHelp(TyperCommand):
    """A command whose help names the configured time zone (``{zone}`` in an option's help):
    the zone is a setting, so it is filled in when the help is shown, not when imported."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        try:
            zone = settings().timezone
        except NewsletterError:
            zone = "NEWSLETTER_TIMEZONE"
        saved = [(param, getattr(param, "help", None)) for param in self.params]
        try:
            for param, text in saved:
                if text and "{zone}" in text:
                    param.help = text.replace("{zone}", zone)  # type: ignore[attr-defined]
            super().format_help(ctx, formatter)
        finally:
            for param, text in saved:
                if text is not None:
                    param.help = text  # type: ignore[attr-defined]


def _local(when: datetime | None, cfg: Settings, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    return when.astimezone(cfg.zone).strftime(fmt) if when else ""


@app.command()
def create(
    briefing: Path = typer.Argument(..., help="The briefing Markdown file."),
    list_: str = typer.Option(..., "--list", help="The list to send to (name or slug)."),
    topic: str | None = typer.Option(
        None,
        "--topic",
        help="Narrow this send to the list's readers who chose this topic (special sends only).",
    ),
    subject: str | None = typer.Option(None, "--subject", help="Default: the briefing's title."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the campaign ID."),
    tag: str | None = typer.Option(
        None, "--tag", help="Only people with this private tag (see `subscribers tag list`)."
    ),
) -> None:
    """Create a draft campaign from a briefing (its text is kept for the whole send)."""
    cfg = settings()
    source = manager.read_source(briefing)
    parsed = markdown.parse(source, source=str(briefing))
    with database.transaction(wiring.sessions(cfg)) as session:
        campaign = manager.create(
            session,
            briefing_path=briefing,
            source_text=source,
            slug=parsed.slug,
            subject=subject or parsed.subject,
            list_ref=list_,
            topic=topic,
        )
        if tag is not None:
            tags.narrow_campaign(session, campaign.id, tag)
        campaign_id, title = campaign.id, campaign.subject
    if quiet:
        console.print(campaign_id)
        return
    console.print(f"Created campaign [bold]{campaign_id}[/]: {title}", highlight=False)
    if tag is not None:
        console.print(f"Only people tagged {tag!r} will get it.", highlight=False)
    console.print(
        f"Next: newsletter campaign preview {campaign_id}; newsletter campaign send {campaign_id}"
    )


@app.command()
def preview(
    campaign_id: int = typer.Argument(...),
    out: Path | None = typer.Option(None, "--out", help="Folder for preview.html/.txt/.eml."),
    topics: str = typer.Option(
        "",
        "--topics",
        help='The copy of a reader who follows these topics, e.g. "Ukraine,Trade".',
    ),
) -> None:
    """Write a sample copy and show the audience and lint findings."""
    cfg = settings()
    sessions = wiring.sessions(cfg)
    with sessions() as session:
        campaign = manager.get(session, campaign_id)
        chosen = campaign_audience(session, campaign.id)
        size = audience.count(session, chosen)
        who = _audience_words(session, chosen)
        names = [n.strip() for n in topics.split(",") if n.strip()]
        followed = tuple(subscriber_topics.get(session, name).id for name in names)
    made = composer.for_campaign(cfg, sessions, campaign_id, wiring.signer(cfg))
    sample = Claimed(0, 0, "reader@example.org", "Sample Reader", 0, followed)
    envelope = made.compose(sample)
    html, text, _ = made.personal(sample)
    folder = out or Path("var/previews") / f"campaign-{campaign_id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "preview.html").write_text(html, encoding="utf-8")
    (folder / "preview.txt").write_text(text, encoding="utf-8")
    (folder / "preview.eml").write_bytes(envelope.message)
    console.print(f"Subject: {made.subject}", highlight=False)
    console.print(f"Readers who will receive it now: {size:,} ({who})", highlight=False)
    briefing = markdown.parse(campaign.source_text, source=campaign.briefing_path)
    if names:
        first = [str(briefing.sections[i].number) for i in made.order(sample)]
        order = (
            f"sections {', '.join(first)} first" if first else "none of its sections: paper order"
        )
        console.print(
            f"The copy of a reader who follows {', '.join(names)}: {order}", highlight=False
        )
    problems = lint.lint(briefing, for_sending=True, digest_html_bytes=len(html.encode()))
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        console.print(
            f"[{colour}]{p.severity}[/] {campaign.briefing_path}:{p.line}: {p.message}",
            highlight=False,
        )
    for name in ("preview.html", "preview.txt", "preview.eml"):
        path = folder / name
        console.print(f"{path}  {path.stat().st_size:,} bytes", highlight=False)


def _audience_words(session: Session, chosen: audience.Audience) -> str:
    """Say who a campaign goes to, and say loudly when ``--topic`` narrowed it."""
    the_list = session.get(MailingList, chosen.list_id)
    list_name = the_list.name if the_list is not None else f"list {chosen.list_id}"
    tagged = ""
    if chosen.tag_id is not None:
        tag = session.get(tags.Tag, chosen.tag_id)
        tagged = f" and carry the private tag {tag.name if tag is not None else chosen.tag_id!r}"
    if chosen.topic_id is None:
        if not tagged:
            return f"everyone on {list_name}"
        return f"narrowed by --tag: only readers of {list_name} who{tagged[4:]}"
    topic = session.get(MailingList, chosen.topic_id)
    topic_name = topic.name if topic is not None else f"topic {chosen.topic_id}"
    return (
        f"narrowed by --topic: only readers of {list_name} who chose {topic_name}{tagged}; "
        f"the others on {list_name} get nothing"
    )


@app.command()
def test(
    campaign_id: int = typer.Argument(...),
    to: str = typer.Option(..., "--to", help="Where to send the test copy."),
) -> None:
    """Send one copy, marked as a test, to ADDRESS through the configured transport."""
    cfg = settings()
    made = composer.for_campaign(cfg, wiring.sessions(cfg), campaign_id, wiring.signer(cfg))
    made = dataclasses.replace(made, subject=f"[Test] {made.subject}")
    envelope = made.compose(Claimed(0, 0, to, "", 0))
    with wiring.transport(cfg) as transport:
        delivery = transport.send(envelope.sender, envelope.recipient, envelope.message)
    if delivery.status != DeliveryStatus.SENT:
        raise NewsletterError(f"the test copy was refused: {delivery.code} {delivery.reply}")
    console.print(f"Test copy of campaign {campaign_id} sent to {to}", highlight=False)


@app.command(cls=ZoneHelp)
def send(
    campaign_id: int = typer.Argument(...),
    at: str | None = typer.Option(
        None,
        "--at",
        help="Send later: 2026-12-01T09:00 is read in {zone} (NEWSLETTER_TIMEZONE); "
        "or give an offset, 2026-12-01T09:00+01:00. A time in the past is refused.",
    ),
    now: bool = typer.Option(False, "--now", help="Send at once, even if --at is in the past."),
    again: bool = typer.Option(
        False, "--again", help="Send even though this briefing already went to this list."
    ),
    force: bool = typer.Option(False, "--force", help="Send even with lint errors."),
    background: bool = typer.Option(
        False, "--background", "--no-wait", help="Only schedule; `newsletter worker` sends."
    ),
    batch: int = typer.Option(200, "--batch", min=1),
    tag: str | None = typer.Option(
        None, "--tag", help="Only people with this private tag (see `subscribers tag list`)."
    ),
) -> None:
    """Schedule the campaign and, unless --at/--background, send it now with a progress bar.

    The briefing's web page goes public when the send starts, not before.
    """
    cfg = settings()
    startup.refuse_unsafe(cfg)  # its mails carry signed links
    when = sendtime.resolve(at, now_flag=now, zone=cfg.zone, now=utcnow())
    engine = wiring.engine(cfg)
    helpers = None if background or when is not None else compose_pool(cfg)
    if helpers is not None:  # they start while the checks below run and the ledger fills
        helpers.start([campaign_id])
    try:
        _send(
            cfg, engine, campaign_id, when=when, again=again, force=force,
            background=background, tag=tag, batch=batch, helpers=helpers,
        )  # fmt: skip
    finally:
        if helpers is not None:
            helpers.close()


def _send(
    cfg: Settings,
    engine: Engine,
    campaign_id: int,
    *,
    when: datetime | None,
    again: bool,
    force: bool,
    background: bool,
    tag: str | None,
    batch: int,
    helpers: ComposePool | None,
) -> None:
    """``send`` once its helpers are under way (closed by ``send`` however this ends)."""
    sessions = database.session_factory(engine)
    made = composer.for_campaign(cfg, sessions, campaign_id, wiring.signer(cfg))
    with sessions() as session:
        path = manager.get(session, campaign_id).briefing_path
        source = manager.get(session, campaign_id).source_text
    briefing = markdown.parse(source, source=path)
    if not force:
        composer.refuse_if_lint_errors(briefing, made.digest, path, donations=cfg.donations_on)
    page = archive.page_for(briefing, made.digest)
    with database.transaction(sessions) as session:
        manager.schedule(
            session, campaign_id, at=when, override=force, again=again, page=page, zone=cfg.zone
        )
        if tag is not None:  # after schedule, which refuses a campaign already under way
            tags.narrow_campaign(session, campaign_id, tag)
    web = links.archive_url(cfg, made.briefing_slug)
    if background or when is not None:
        moment = sendtime.local(when, cfg.zone) if when else "now"
        console.print(
            f"Campaign {campaign_id} scheduled for {moment}; `newsletter worker` will send it.",
            highlight=False,
        )
        console.print(f"Its web page {web} goes public when the send starts.", highlight=False)
        return
    Ledger(engine).start(campaign_id)
    console.print(f"Published {web}", highlight=False)
    _foreground(campaign_id, batch, engine=engine, helpers=helpers)


@app.command()
def pause(campaign_id: int = typer.Argument(...)) -> None:
    """Stop claiming new batches (the batch in flight finishes)."""
    with database.transaction(wiring.sessions(settings())) as session:
        manager.pause(session, campaign_id)
    console.print(
        f"Campaign {campaign_id} paused; `newsletter campaign resume {campaign_id}` continues."
    )


@app.command()
def resume(
    campaign_id: int = typer.Argument(...),
    background: bool = typer.Option(False, "--background", "--no-wait"),
    batch: int = typer.Option(200, "--batch", min=1),
) -> None:
    """Continue a paused or stopped campaign (in the foreground unless --background)."""
    with database.transaction(wiring.sessions(settings())) as session:
        campaign = manager.resume(session, campaign_id)
        started = campaign.status == CampaignStatus.SENDING
    if background or not started:
        console.print(f"Campaign {campaign_id} resumed; `newsletter worker` will continue it.")
        return
    _foreground(campaign_id, batch)


@app.command()
def cancel(campaign_id: int = typer.Argument(...)) -> None:
    """Never send the rest of this campaign."""
    with database.transaction(wiring.sessions(settings())) as session:
        manager.cancel(session, campaign_id)
    console.print(f"Campaign {campaign_id} cancelled.")


@app.command()
def status(
    campaign_id: int = typer.Argument(...),
    failures: bool = typer.Option(False, "--failures", help="List failed and deferred rows."),
) -> None:
    """Counts per state, rate and ETA; works from another terminal while a send runs."""
    cfg = settings()
    with wiring.sessions(cfg)() as session:
        report = manager.report(session, campaign_id)
    _print_report(report, cfg)
    nobody = heartbeat.unattended(wiring.engine(cfg)).get(campaign_id)
    if nobody is not None:
        console.print(f"[red]Stalled:[/] {_nobody(nobody)}", highlight=False)
    if failures:
        rows = Ledger(wiring.engine(cfg)).problems(campaign_id)
        table = Table("state", "address", "tries", "last reply", "next try")
        for row in rows:
            nxt = row.next_attempt_at.strftime("%H:%M:%S") if row.next_attempt_at else ""
            table.add_row(row.state, row.email, str(row.attempts), row.last_reply, nxt)
        console.print(table if rows else "No failed or deferred recipients.")


@app.command("list")
def list_() -> None:
    """Every campaign with its status."""
    cfg = settings()
    ledger = Ledger(wiring.engine(cfg))
    with wiring.sessions(cfg)() as session:
        campaigns = manager.all_campaigns(session)
    unattended = heartbeat.unattended(ledger.engine)
    table = Table("id")
    table.add_column("status", min_width=9)
    table.add_column("subject", no_wrap=True, overflow="ellipsis", max_width=19)
    for name in ("total", "sent", "failed"):
        table.add_column(name, justify="right", min_width=len(name))
    table.add_column("send time", no_wrap=True)
    for c in campaigns:
        counts = ledger.counts(c.id)
        table.add_row(
            str(c.id),
            f"{c.status}[red]*[/]" if c.id in unattended else c.status,
            c.subject,
            str(c.total),
            str(counts[RecipientState.SENT]),
            str(counts[RecipientState.FAILED]),
            _local(c.started_at or c.send_at, cfg, "%d %b %H:%M") or "not scheduled",
        )
    console.print(table if campaigns else "No campaigns yet.")
    if campaigns:
        console.print(f"Times in {cfg.timezone} (NEWSLETTER_TIMEZONE)", highlight=False)
    for nobody in unattended.values():
        console.print(
            f"[red]*[/] campaign {nobody.campaign_id}: {_nobody(nobody)}", highlight=False
        )


def _minutes(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.0f} min"


def _nobody(nobody: heartbeat.Unattended) -> str:
    """Why a sending campaign is stuck, and what to do about it."""
    return (
        f"no worker has been alive for this campaign for {_minutes(nobody.for_seconds)} "
        f"(longer than a lease of {_minutes(nobody.lease_seconds)}); start "
        "`newsletter worker` or `newsletter serve` and it carries on where it stopped."
    )


def _print_report(report: manager.CampaignProgress, cfg: Settings) -> None:
    c = report.campaign
    console.print(f"Campaign {c.id}: {c.subject}", highlight=False)
    console.print(f"List: {report.list_name}   Status: [bold]{c.status}[/]", highlight=False)
    zone = f"({cfg.timezone})"
    if c.started_at is not None:
        console.print(f"Started: {_local(c.started_at, cfg)} {zone}", highlight=False)
    elif c.send_at is not None and c.status not in (CampaignStatus.CANCELLED,):
        console.print(f"Scheduled for: {_local(c.send_at, cfg)} {zone}", highlight=False)
    if c.stop_reason:
        console.print(f"[red]Stopped:[/] {c.stop_reason}", highlight=False)
    table = Table("state", "recipients")
    for state in RecipientState:
        table.add_row(str(state), f"{report.counts[state]:,}")
    console.print(table)
    if c.status == CampaignStatus.FINISHED and c.started_at and c.finished_at:
        took = max(0.001, (c.finished_at - c.started_at).total_seconds())
        sent = report.counts[RecipientState.SENT]
        console.print(f"Sent {sent:,} in {took:,.1f} s ({sent / took:,.0f} messages/s)")
    elif report.rate:
        eta = f", about {report.eta_seconds:,.0f} s left" if report.eta_seconds else ""
        console.print(f"Rate: {report.rate:,.1f} messages/s over the last minute{eta}")


def _foreground(
    campaign_id: int,
    batch: int,
    *,
    engine: Engine | None = None,
    helpers: ComposePool | None = None,
) -> None:
    cfg = settings()
    engine = engine or wiring.engine(cfg)
    run_with_progress(cfg, campaign_id, batch=batch, engine=engine, helpers=helpers)
    with database.session_factory(engine)() as session:
        report = manager.report(session, campaign_id)
    _print_report(report, cfg)
    deferred = report.counts[RecipientState.DEFERRED]
    if deferred and report.campaign.status == CampaignStatus.SENDING:
        console.print(
            f"{deferred} recipient(s) deferred by their mail servers; "
            "a running `newsletter worker` will retry them."
        )
