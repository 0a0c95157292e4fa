"""The console's home page, the audit trail, and a staff member's own account."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from newsletter.campaigns.models import Campaign, CampaignRecipient
from newsletter.console.guard import Clock, Owner, Sessions, Viewer
from newsletter.console.pages import back, render
from newsletter.database import transaction
from newsletter.donations import reports
from newsletter.staff import accounts, audit, signin
from subscribers.models import ConsentEvent, Status, Subscriber

router = APIRouter()
RECENT_CAMPAIGNS = 5


@router.get("/admin")
def home(request: Request, staff: Viewer, factory: Sessions, clock: Clock) -> Response:
    """What a Monday morning needs first: the last sends, the list's size, this month's money."""
    month_start = clock.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with transaction(factory) as session:
        campaigns = list(
            session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(RECENT_CAMPAIGNS))
        )
        counts: dict[int, dict[str, int]] = {c.id: {} for c in campaigns}
        if campaigns:
            rows = session.execute(
                select(CampaignRecipient.campaign_id, CampaignRecipient.state, func.count())
                .where(CampaignRecipient.campaign_id.in_(counts))
                .group_by(CampaignRecipient.campaign_id, CampaignRecipient.state)
            )
            for campaign_id, state, n in rows:
                counts[campaign_id][state] = n
        active = session.scalar(select(func.count()).where(Subscriber.status == Status.ACTIVE)) or 0
        since = clock - timedelta(days=30)
        joined = (
            session.scalar(
                select(func.count()).where(
                    Subscriber.status == Status.ACTIVE, Subscriber.confirmed_at >= since
                )
            )
            or 0
        )
        left = (
            session.scalar(
                select(func.count(func.distinct(ConsentEvent.subscriber_id))).where(
                    ConsentEvent.action == "unsubscribe", ConsentEvent.at >= since
                )
            )
            or 0
        )
        month = [g for g in reports.gifts(session) if g.paid_at >= month_start]
        money = reports.build(month, {}).totals
        recent = [
            {
                "id": c.id,
                "subject": c.subject,
                "status": c.status,
                "sent": counts[c.id].get("sent", 0),
                "failed": counts[c.id].get("failed", 0),
                "total": c.total,
            }
            for c in campaigns
        ]
    return render(
        request,
        "admin/home.html",
        staff,
        campaigns=recent,
        active=active,
        active_30_days_ago=active - joined + left,
        money=[(line.money(line.net_minor), line.gifts) for line in money],
        month=month_start.strftime("%B %Y"),
    )


@router.get("/admin/audit")
def audit_trail(
    request: Request,
    staff: Owner,
    factory: Sessions,
    actor: str = "",
    action: str = "",
    target: str = "",
) -> Response:
    with transaction(factory) as session:
        events = audit.events(session, actor=actor, action=action, target=target)
        rows = [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
                "ip": e.ip,
            }
            for e in events
        ]
        known = audit.actions(session)
    return render(
        request,
        "admin/audit.html",
        staff,
        events=rows,
        actions=known,
        filters={"actor": actor, "action": action, "target": target},
    )


@router.get("/admin/account")
def account(request: Request, staff: Viewer) -> Response:
    secret = "" if staff.has_second_factor else signin.new_totp_secret()
    uri = signin.totp_uri(secret, staff.email, request.app.state.settings.organisation_name)
    return render(
        request,
        "admin/account.html",
        staff,
        secret=secret,
        uri=uri,
        codes=[],
        error="",
    )


@router.post("/admin/account/second-factor")
def turn_on_second_factor(
    request: Request,
    staff: Viewer,
    factory: Sessions,
    clock: Clock,
    secret: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    with transaction(factory) as session:
        member = accounts.get(session, staff.email)
        try:
            codes = signin.confirm_totp(member, secret, code, clock)
        except signin.SignInRefused as wrong:
            uri = signin.totp_uri(secret, staff.email, request.app.state.settings.organisation_name)
            return render(
                request,
                "admin/account.html",
                staff,
                400,
                secret=secret,
                uri=uri,
                codes=[],
                error=str(wrong),
                done="",
            )
        audit.record(session, staff.email, "staff.second-factor-on", ip=staff.network)
    return render(
        request, "admin/account.html", staff, secret="", uri="", codes=codes, error="", done=""
    )


@router.post("/admin/account/second-factor/off")
def turn_off_second_factor(staff: Viewer, factory: Sessions) -> Response:
    with transaction(factory) as session:
        member = accounts.get(session, staff.email)
        member.totp_secret, member.recovery_codes = "", []
        audit.record(session, staff.email, "staff.second-factor-off", ip=staff.network)
    return back("/admin/account", "The second factor is off.")
