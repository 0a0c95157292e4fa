"""Gifts in the console: the list with filters, one gift with its Stripe references, the totals
per briefing, and the CSV export (owners: it holds donors' names and addresses)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from newsletter.console.guard import Owner, Sessions, Viewer
from newsletter.console.pages import download, render, scratch_csv
from newsletter.database import transaction
from newsletter.donations import reports
from newsletter.donations.amounts import format_amount
from newsletter.donations.models import Gift
from newsletter.errors import NotFound
from newsletter.staff import audit

router = APIRouter()
PAGE = 100


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/admin/gifts")
def gift_list(
    request: Request,
    staff: Viewer,
    factory: Sessions,
    since: str = "",
    until: str = "",
    frequency: str = "",
    status: str = "",
    campaign: str = "",
) -> Response:
    start, end = _day(since), _day(until)
    with transaction(factory) as session:
        labels = reports.campaign_labels(session)
        chosen = [
            g
            for g in reports.gifts(session)
            if (start is None or g.paid_at.date() >= start)
            and (end is None or g.paid_at.date() <= end)
            and (not frequency or g.frequency == frequency)
            and (not status or g.status == status)
            and (not campaign or str(g.campaign_id) == campaign)
        ]
        summary = reports.build(chosen, labels)
        rows = [
            {
                "id": g.id,
                "paid_at": g.paid_at,
                "donor": g.donor_name or g.donor_email or "(anonymous)",
                "amount": format_amount(g.amount_minor, g.currency),
                "frequency": g.frequency,
                "status": g.status,
                "campaign": labels.get(g.campaign_id or -1, "") if g.campaign_id else "",
            }
            for g in reversed(chosen[-PAGE:])
        ]
    per_briefing = [
        (line.label, line.gifts, line.money(line.net_minor)) for line in summary.by_campaign
    ]
    totals = [(line.money(line.net_minor), line.gifts) for line in summary.totals]
    return render(
        request,
        "admin/gifts.html",
        staff,
        rows=rows,
        shown=min(len(chosen), PAGE),
        count=len(chosen),
        per_briefing=per_briefing,
        totals=totals,
        campaigns=sorted(labels.items()),
        filters={
            "since": since,
            "until": until,
            "frequency": frequency,
            "status": status,
            "campaign": campaign,
        },
    )


@router.get("/admin/gifts/export.csv")
def export(staff: Owner, factory: Sessions) -> Response:
    path = scratch_csv()
    with transaction(factory) as session:
        count = reports.export_file(session, path)
        audit.record(
            session, staff.email, "gifts.export", detail=f"{count} gifts", ip=staff.network
        )
    return download(path, "gifts.csv")


@router.get("/admin/gifts/{gift_id}")
def gift_page(request: Request, gift_id: int, staff: Viewer, factory: Sessions) -> Response:
    with transaction(factory) as session:
        gift = session.scalar(select(Gift).where(Gift.id == gift_id))
        if gift is None:
            raise NotFound("no such gift")
        labels = reports.campaign_labels(session)
        fields = [
            ("Paid", gift.paid_at.strftime("%d %b %Y %H:%M")),
            ("Amount", format_amount(gift.amount_minor, gift.currency)),
            ("Once or monthly", gift.frequency),
            ("Status", gift.status),
            ("Refunded", format_amount(gift.refunded_minor, gift.currency)),
            ("Disputed", format_amount(gift.disputed_minor, gift.currency)),
            ("Donor", gift.donor_name or "-"),
            ("Donor's address", gift.donor_email or "-"),
            ("Briefing", labels.get(gift.campaign_id or -1, "-")),
            ("Stripe Checkout session", gift.checkout_session_id or "-"),
            ("Stripe payment", gift.payment_intent_id or "-"),
            ("Stripe subscription", gift.subscription_id or "-"),
            ("Stripe customer", gift.customer_id or "-"),
            ("Live or test mode", "live" if gift.livemode else "test"),
            (
                "Receipt sent",
                gift.receipt_sent_at.strftime("%d %b %Y %H:%M")
                if isinstance(gift.receipt_sent_at, datetime)
                else "not yet",
            ),
        ]
    return render(request, "admin/gift.html", staff, gift_id=gift_id, fields=fields)
