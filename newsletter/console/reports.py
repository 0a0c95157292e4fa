"""Results in the console: one campaign's report and the organisation's growth, with charts.

Routes only gather the domain's reports (``results.report``, ``results.growth``) and
turn them into charts (``results.charts``); every figure comes from the same functions
as ``newsletter report``.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.console.guard import Config, Sessions, Viewer
from newsletter.console.pages import render
from newsletter.database import transaction
from newsletter.donations.amounts import format_amount
from newsletter.results import growth as growth_report
from newsletter.results.charts import Chart, Series
from newsletter.results.report import campaign_report, collected

router = APIRouter()


@router.get("/admin/campaigns/{campaign_id}/report")
def campaign_page(
    request: Request, campaign_id: int, staff: Viewer, factory: Sessions, config: Config
) -> Response:
    with transaction(factory) as session:
        report = campaign_report(
            session,
            campaign_id,
            tracking=config.tracking,
            bounce_mailbox=bool(config.bounce_mailbox),
            track_opens=config.track_opens,
        )
    days = [f"Day {d + 1}" for d, _, _ in report.days]
    week = Chart(
        "week",
        "Human clicks and gifts, first 7 days",
        f"{sum(c for _, c, _ in report.days)} human clicks and "
        f"{sum(g for _, _, g in report.days)} gifts in the first week after sending started.",
        days,
        [Series("Human clicks", [c for _, c, _ in report.days]),
         Series("Gifts", [g for _, _, g in report.days])],
    )  # fmt: skip
    top = report.links[:10]
    links = Chart(
        "links",
        "Human clicks per link (top 10)",
        (
            f"The most followed link was “{top[0].text or top[0].url}” with {top[0].clicks} clicks."
            if top and top[0].clicks
            else "No human clicks yet."
        ),
        [f"#{line.idx + 1}" for line in top],
        [Series("Human clicks", [line.clicks for line in top])],
    )
    money = ", ".join(format_amount(m.net_minor, m.currency) for m in report.totals) or "nothing"
    return render(
        request,
        "admin/campaign-report.html",
        staff,
        report=report,
        charts=[week, links] if report.days else [links],
        top=top,
        money=money,
    )


def _since(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/admin/reports/growth")
def growth_page(
    request: Request, staff: Viewer, factory: Sessions, config: Config, since: str = ""
) -> Response:
    start = _since(since)
    with transaction(factory) as session:
        found = growth_report.growth(session, start)
        bounces = collected(session, bool(config.bounce_mailbox))
        money = growth_report.money(session, "month")
    months = [line.month for line in found.months]
    people = Chart(
        "people",
        "Subscribers joining and leaving, per month",
        f"{sum(m.new for m in found.months)} joined and "
        f"{sum(m.unsubscribed + m.bounced for m in found.months)} left "
        f"(unsubscribed or bounced) over {len(months)} month(s); "
        f"net {sum(m.net for m in found.months):+d}.",
        months,
        [
            Series("Joined", [m.new for m in found.months]),
            Series("Unsubscribed", [m.unsubscribed for m in found.months]),
            Series("Bounced", [m.bounced for m in found.months]),
        ],
    )
    raised = Chart(
        "money",
        "Gifts per month",
        f"{sum(m.gifts for m in money)} gifts over {len({m.label for m in money})} month(s).",
        [f"{m.label} {m.currency.upper()}" for m in money],
        [Series("Gifts", [m.gifts for m in money])],
    )
    return render(
        request,
        "admin/growth-report.html",
        staff,
        growth=found,
        charts=[people, raised],
        money=[(m.label, m.gifts, format_amount(m.net_minor, m.currency)) for m in money],
        bounces=bounces,
        since=since if start else "",
    )
