"""``newsletter report ...``: what a briefing achieved, how the list grows, money raised."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from newsletter import wiring
from newsletter.cli.common import console, settings
from newsletter.donations.amounts import format_amount
from newsletter.errors import ConfigError
from newsletter.results import growth as growth_report
from newsletter.results import report as campaign_reports
from newsletter.results.report import CampaignReport

app = typer.Typer(
    help="What briefings achieved: clicks, bounces, unsubscribes, gifts; growth and money.",
    no_args_is_help=True,
)

CSV_OPTION = typer.Option(None, "--csv", help="Also write the figures to this CSV file.")


def _money(report: CampaignReport) -> str:
    return ", ".join(format_amount(m.net_minor, m.currency) for m in report.totals) or "0"


def _figures(report: CampaignReport) -> list[tuple[str, str]]:
    unique = (
        "not recorded (aggregate tracking)"
        if report.unique_clickers is None
        else str(report.unique_clickers)
    )
    rows = [
        ("readers", str(report.readers)),
        ("sent", str(report.sent)),
        ("deferred", str(report.deferred)),
        ("failed", str(report.failed)),
        ("skipped", str(report.skipped)),
        ("hard bounces", str(report.hard_bounces)),
        ("soft bounces", str(report.soft_bounces)),
        ("complaints", str(report.complaints)),
        ("unsubscribes (own links, 30 days)", str(report.unsubscribes)),
        ("human clicks", str(report.human_clicks)),
        ("machine clicks (not counted)", str(report.machine_clicks)),
        ("unique human clickers", unique),
        ("gifts", str(report.gifts)),
        ("one-time gifts", str(report.gifts_once)),
        ("monthly gifts", str(report.gifts_monthly)),
        ("total (net of refunds)", _money(report)),
        ("gifts per 1,000 readers", f"{report.gifts_per_thousand:.1f}"),
        ("Gift Aid share", f"{report.gift_aid_share:.0%}"),
    ]
    if report.opens is not None:
        rows.append(("opens (an estimate: privacy proxies open everything)", str(report.opens)))
    return rows


def _csv_path(path: Path | None) -> Path | None:
    if path is not None and not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {path.parent} does not exist")
    return path


@app.command("campaign")
def campaign(
    campaign_id: int = typer.Argument(..., help="The campaign's number (see campaign list)."),
    csv_file: Path | None = CSV_OPTION,
) -> None:
    """Delivery, bounces, unsubscribes, clicks per link and gifts of one campaign."""
    cfg = settings()
    out = _csv_path(csv_file)
    with wiring.sessions(cfg)() as session:
        report = campaign_reports.campaign_report(
            session,
            campaign_id,
            tracking=cfg.tracking,
            bounce_mailbox=bool(cfg.bounce_mailbox),
            track_opens=cfg.track_opens,
        )
    figures = _figures(report)
    table = Table("figure", "value", title=f"Campaign {report.campaign_id}: {report.subject}")
    for name, value in figures:
        table.add_row(name, value)
    console.print(table)
    links = Table("clicks", "machine", "link text", "address", title="Clicks per link")
    for line in report.links:
        links.add_row(str(line.clicks), str(line.machine), line.text, line.url)
    if report.links:
        console.print(links)
    else:
        console.print(f"No tracked links (tracking: {report.tracking}).", highlight=False)
    if report.days:
        days = Table("day", "human clicks", "gifts", title="First 7 days")
        for day, clicks, gifts in report.days:
            days.add_row(str(day + 1), str(clicks), str(gifts))
        console.print(days)
    console.print(report.bounces.sentence(), highlight=False)
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["section", "name", "value", "address"])
            writer.writerows(["figure", name, value, ""] for name, value in figures)
            writer.writerows(["link", line.text, line.clicks, line.url] for line in report.links)
            writer.writerows(["day", day + 1, clicks, gifts] for day, clicks, gifts in report.days)
            writer.writerow(["bounces", report.bounces.sentence(), "", ""])
        console.print(f"wrote {out}", highlight=False)


def _since(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; write it as 2026-01-31") from None


@app.command("growth")
def growth(
    since: str | None = typer.Option(None, "--since", help="From this date (YYYY-MM-DD)."),
    csv_file: Path | None = CSV_OPTION,
) -> None:
    """Subscribers per month (new by source, unsubscribed, bounced, net) and list sizes."""
    cfg = settings()
    start, out = _since(since), _csv_path(csv_file)
    with wiring.sessions(cfg)() as session:
        found = growth_report.growth(session, start)
        bounces = campaign_reports.collected(session, bool(cfg.bounce_mailbox))
    table = Table("month", "web form", "import", "staff", "unsubscribed", "bounced", "net")
    for line in found.months:
        table.add_row(
            line.month,
            str(line.web_form),
            str(line.imported),
            str(line.staff),
            str(line.unsubscribed),
            str(line.bounced),
            f"{line.net:+d}",
        )
    console.print(table if found.months else "No subscriber changes in this period.")
    sizes = Table("list or topic", "readers")
    for size in found.lists:
        sizes.add_row(size.name + (" (archived)" if size.archived else ""), str(size.readers))
    console.print(sizes)
    console.print(bounces.sentence(), highlight=False)
    if out is not None:
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            header = ["month", "web_form", "import", "staff", "unsubscribed", "bounced", "net"]
            writer.writerow(header)
            writer.writerows(
                [m.month, m.web_form, m.imported, m.staff, m.unsubscribed, m.bounced, m.net]
                for m in found.months
            )
        console.print(f"wrote {out}", highlight=False)


@app.command("money")
def money(
    by: str = typer.Option("month", "--by", help="month or briefing."),
) -> None:
    """Gifts and money raised (net of refunds and disputes) per month or per briefing."""
    if by not in ("month", "briefing"):
        raise typer.BadParameter(f"--by {by!r}: choose month or briefing")
    with wiring.sessions(settings())() as session:
        lines = growth_report.money(session, by)
    table = Table(by, "gifts", "one-time", "monthly", "net")
    for line in lines:
        table.add_row(
            line.label,
            str(line.gifts),
            str(line.once),
            str(line.monthly),
            format_amount(line.net_minor, line.currency),
        )
    console.print(table if lines else "No gifts yet.")
