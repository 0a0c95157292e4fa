"""`newsletter donations ...`: list gifts, report totals, export CSV, reconcile with Stripe."""

from __future__ import annotations

import functools
import time
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.table import Table

from newsletter import wiring
from newsletter.cli.common import console, settings
from newsletter.donations import intents, readiness, reports
from newsletter.donations.amounts import format_amount
from newsletter.donations.gateway import PaymentProviderError
from newsletter.donations.gift_aid import claims as gift_aid
from newsletter.donations.gift_aid.schedule import COLUMNS as schedule_columns
from newsletter.donations.gift_aid.schedule import write as schedule_write
from newsletter.donations.receipts import delivery as receipts
from newsletter.donations.reconcile import parse_since
from newsletter.donations.reconcile import reconcile as run_reconcile
from newsletter.donations.webhook import processor_for
from newsletter.errors import ConfigError

app = typer.Typer(
    help="Gifts received through Stripe: list, report, export, reconcile.",
    no_args_is_help=True,
)


@app.command("list")
def list_gifts(
    limit: int = typer.Option(50, "--limit", "-n", help="How many of the latest gifts."),
) -> None:
    """The latest gifts, newest first."""
    with wiring.sessions(settings())() as session:
        rows = reports.gifts(session)[-limit:][::-1]
    table = Table("id", "paid", "kind", "amount", "status", "donor", "campaign", "receipt")
    for gift in rows:
        table.add_row(
            str(gift.id),
            gift.paid_at.strftime("%Y-%m-%d %H:%M"),
            gift.frequency,
            format_amount(gift.amount_minor, gift.currency),
            gift.status,
            gift.donor_email or "-",
            "-" if gift.campaign_id is None else str(gift.campaign_id),
            receipts.state(gift),
        )
    console.print(table if rows else "No gifts recorded yet.")


def _lines_table(title: str, lines: list[reports.Line]) -> Table:
    table = Table(
        "",
        "gifts",
        "donors",
        "one-time",
        "monthly",
        "refunds",
        "disputes",
        "net",
        title=title,
        title_justify="left",
    )
    for line in lines:
        table.add_row(
            line.label,
            str(line.gifts),
            str(len(line.donors)),
            line.money(line.once_minor),
            line.money(line.monthly_minor),
            line.money(line.refunded_minor),
            line.money(line.disputed_minor),
            line.money(line.net_minor),
        )
    return table


@app.command()
def report(
    campaign: int | None = typer.Option(None, "--campaign", help="Only gifts from this campaign."),
) -> None:
    """Gifts, donors, one-time vs monthly, refunds and net total per briefing and per month."""
    with wiring.sessions(settings())() as session:
        result = reports.report(session, campaign)
    if not result.totals:
        console.print("No gifts recorded yet.")
        return
    console.print(_lines_table("Per briefing (campaign)", result.by_campaign))
    console.print(_lines_table("Per month", result.by_month))
    console.print(_lines_table("Total", result.totals))


@app.command()
def export(
    output: Path = typer.Option(..., "-o", "--output", help="CSV file to write."),
) -> None:
    """Every gift as CSV, with Gift Aid declarations where collected."""
    if output.parent and not output.parent.exists():
        raise ConfigError(f"folder {output.parent} does not exist")
    with wiring.sessions(settings())() as session:
        count = reports.export_file(session, output)
    console.print(f"Wrote {count} gifts to {output}")


@app.command()
def reconcile(
    since: str | None = typer.Option(
        None,
        "--since",
        help="How far back to look: a duration (36h, 3d, 2w) or a UTC date (2026-11-01). "
        "Default: the last 7 days; Stripe keeps events for 30.",
    ),
) -> None:
    """List Stripe's recent events, apply any the webhook missed, send owed receipts."""
    start = parse_since(since, time.time()) if since is not None else None
    config = settings()
    gateway = wiring.stripe_gateway(config)
    if gateway is None:
        raise ConfigError("NEWSLETTER_STRIPE_SECRET_KEY is not set")
    sessions = wiring.sessions(config)
    processor = processor_for(config, sessions, wiring.donor_mailer(config), gateway)
    if processor is None:
        raise ConfigError("NEWSLETTER_STRIPE_WEBHOOK_SECRET is not set")
    with console.status("Asking Stripe for events..."):
        outcome = run_reconcile(sessions, gateway, processor, since=start)
    console.print(
        f"Stripe events since {datetime.fromtimestamp(outcome.since, UTC):%Y-%m-%d %H:%M} UTC:"
    )
    for event_id, type_, status in outcome.lines:
        console.print(f"  {event_id}  {type_:45} {status}", highlight=False)
    console.print(
        f"{outcome.listed} events listed, {len(outcome.applied)} applied, "
        f"{outcome.already} already recorded, {outcome.skipped} skipped, "
        f"{outcome.receipts_sent} receipts sent"
    )
    if outcome.relinked:
        console.print(
            f"{outcome.relinked} earlier refund(s) or dispute(s) of monthly gifts applied, "
            "now that Stripe has named the invoice they paid"
        )
    if outcome.failed:
        raise PaymentProviderError(
            f"{outcome.failed} event(s) could not be applied because Stripe did not answer; "
            "run donations reconcile again later"
        )


@app.command()
def check() -> None:
    """Whether online giving is ready: each donation setting, and the key tried on Stripe."""
    config = settings()
    gateway = wiring.stripe_gateway(config)
    with console.status("Asking Stripe about the key..."):
        findings = readiness.check(config, gateway.account if gateway is not None else None)
    for finding in findings:
        mark = "[green]ok[/green]     " if finding.ok else "[red]PROBLEM[/red]"
        console.print(
            f"{mark} {finding.setting}: {finding.message}", highlight=False, soft_wrap=True
        )
    if not readiness.ready(findings):
        problems = sum(1 for f in findings if not f.ok)
        raise ConfigError(f"online giving is not ready: {problems} problem(s) above")
    console.print("Online giving is ready.")


@app.command("test-checkout")
def test_checkout(
    amount: str = typer.Option(..., "--amount", help="The gift, as a donor would type it: 10"),
    monthly: bool = typer.Option(False, "--monthly", help="A monthly gift instead of one-time."),
) -> None:
    """Open a test-mode Checkout through the donate form's own code and print its URL.

    Pay it with Stripe's test card 4242 4242 4242 4242 and the gift arrives through the
    webhook like any other.
    """
    config = settings()
    key = config.stripe_secret_key.get_secret_value() if config.stripe_secret_key else ""
    gateway = wiring.stripe_gateway(config)
    if gateway is None:
        raise ConfigError("NEWSLETTER_STRIPE_SECRET_KEY is not set")
    if "_test_" not in key[:8]:
        raise ConfigError("test-checkout needs a test-mode key (sk_test_...), not a live one")
    fields = {"other_amount": amount, "frequency": "monthly" if monthly else "once"}
    form = intents.parse_form(config, fields)
    checkout = intents.start_checkout(
        wiring.sessions(config), config, gateway, form, intents.Attribution()
    )
    kind = "monthly" if monthly else "one-time"
    shown = format_amount(form.amount_minor, config.currency)
    console.print(f"Test Checkout for a {kind} gift of {shown} (session {checkout.id}):")
    console.print(checkout.url, highlight=False, soft_wrap=True)


gift_aid_app = typer.Typer(help="UK Gift Aid: claims to HMRC.", no_args_is_help=True)
app.add_typer(gift_aid_app, name="gift-aid")


def _day(text: str | None) -> date:
    if text is None:
        return datetime.now(gift_aid.UK).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--until {text!r} is not a date such as 2027-04-05") from None


@gift_aid_app.command("claim")
def gift_aid_claim(
    output: Path | None = typer.Option(
        None, "-o", "--output", help="CSV file for HMRC's schedule (1,000 lines a file)."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help="Claim gifts paid up to this day (UK time): 2027-04-05. Default: today.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be claimed; write and mark nothing."
    ),
) -> None:
    """Write HMRC's Gift Aid schedule for gifts not claimed before, and mark them claimed."""
    day = _day(until)
    say = functools.partial(console.print, soft_wrap=True, highlight=False)
    if output is None and not dry_run:
        raise ConfigError("say where to write the schedule: -o gift-aid.csv")
    if output is not None and not dry_run and output.parent and not output.parent.exists():
        raise ConfigError(f"folder {output.parent} does not exist")
    sessions = wiring.sessions(settings())
    if dry_run:
        with sessions() as session:
            plan = gift_aid.plan(session, day)
        reference = ""
    else:
        if output is None:  # refused above already; this narrows the type
            raise ConfigError("say where to write the schedule: -o gift-aid.csv")
        target = output
        files: list[Path] = []
        reference, plan = gift_aid.record(
            sessions,
            day,
            datetime.now(UTC),
            lambda _, p: files.extend(schedule_write(p.schedule, target)),
        )
    schedule = plan.schedule
    if dry_run:
        table = Table(*schedule_columns, title="Would be claimed", title_justify="left")
        for line in schedule.lines:
            table.add_row(*line.cells())
        console.print(table if schedule.lines else "No gifts to claim.")
    else:
        say(f"Claim {reference}: wrote {', '.join(str(f) for f in files)}")
    total = format_amount(schedule.total_minor, "gbp")
    tax = format_amount(gift_aid.gift_aid_on(schedule.total_minor), "gbp")
    gifts = len(schedule.gift_amounts)
    say(
        f"{len(schedule.lines)} line(s) for {gifts} gift(s) paid up to {day:%d/%m/%y}: "
        f"{total} given, {tax} of Gift Aid to claim"
    )
    if schedule.lines:
        say(f"Earliest donation date in the claim: {schedule.earliest():%d/%m/%y}")
    if plan.adjustments:
        given = format_amount(plan.adjustment_minor, "gbp")
        over = format_amount(gift_aid.gift_aid_on(plan.adjustment_minor), "gbp")
        say(
            f"Adjustment: {given} of gifts claimed before were refunded or disputed since; "
            f"enter {over} as Gift Aid over-claimed in this claim"
        )
    for left in schedule.left_out:
        say(f"  not claimed: gift {left.gift_id}: {left.reason}")
    if dry_run:
        say("Dry run: nothing written, no gift marked as claimed.")
