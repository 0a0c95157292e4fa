"""Campaigns in the console: choose who gets a briefing, send it now or at a time in the
organisation's zone, watch it go, pause, resume or cancel it, and read its report.

The rules are the command line's (``campaign create``, ``campaign send``, ``pause``,
``resume``, ``cancel``, ``status``): a time in the past, a second send of the same paper to
the same list without saying so, and a briefing with lint errors are all refused. Sending
itself is the workers' job (``newsletter worker``, or the web server's loop for due sends).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as UrlPart
from fastapi.responses import Response

from newsletter import wiring
from newsletter.briefing import store
from newsletter.campaigns import archive, composer, manager, sendtime
from newsletter.campaigns.ledger import campaign_audience
from newsletter.campaigns.states import CLOSED, CampaignStatus, RecipientState
from newsletter.console.guard import Clock, Config, Editor, Sessions, Staff, Viewer
from newsletter.console.pages import back, render
from newsletter.database import transaction
from newsletter.digest import sample
from newsletter.errors import NewsletterError
from newsletter.staff import audit, formkeys
from subscribers import audience, lists

router = APIRouter()
S = CampaignStatus
STATES = [str(s) for s in RecipientState]
ALREADY = "This form was already sent: nothing was done twice."


def _plain(message: str) -> str:
    """The command line's advice in the console's words."""
    return (
        message.replace("add --again to send it", "tick “Send again” to send it")
        .replace("or add --now to send at once", "or choose “Send now”")
        .replace("--at ", "")
    )


def _audience(session: Any, list_ref: str, topic_ref: str) -> tuple[int | None, str, str]:
    """(count, list name, topic name) for the chosen list and topic (None: none chosen)."""
    chosen = lists.find(session, list_ref) if list_ref else None
    topic = lists.find(session, topic_ref) if topic_ref else None
    if chosen is None:
        return None, "", ""
    count = audience.count(session, audience.Audience(chosen.id, topic.id if topic else None))
    return count, chosen.name, topic.name if topic else ""


def _form(
    request: Request,
    staff: Staff,
    factory: Any,
    config: Any,
    briefing_id: int,
    values: dict[str, str],
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        options = [(m.slug, m.name) for m in lists.all_lists(session)]
        count, list_name, topic_name = _audience(session, values["list"], values["topic"])
    shown = sample.preview(current.briefing, config, wiring.signer(config))
    errors = composer.lint_errors(current.briefing, shown.digest, donations=config.donations_on)
    return render(
        request,
        "admin/campaign-new.html",
        staff,
        status,
        current=current,
        lists=options,
        values=values,
        count=count,
        list_name=list_name,
        topic_name=topic_name,
        lint_errors=errors,
        zone=config.timezone,
        error=error,
    )


@router.get("/admin/briefings/{briefing_id}/campaign")
def new_campaign(
    request: Request,
    briefing_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    list: str = "",
    topic: str = "",
) -> Response:
    values = {"list": list, "topic": topic, "when": "now", "at": "", "again": ""}
    values["once"] = formkeys.issue()  # this form sends once, however often it is posted
    return _form(request, staff, factory, config, briefing_id, values)


@router.get("/admin/briefings/{briefing_id}/audience")
def audience_count(
    request: Request,
    _briefing_id: Annotated[int, UrlPart(alias="briefing_id")],  # in the URL, not needed here
    staff: Viewer,
    factory: Sessions,
    list: str = "",
    topic: str = "",
) -> Response:
    """The count alone, for htmx as the list or topic changes."""
    with transaction(factory) as session:
        count, list_name, topic_name = _audience(session, list, topic)
    return render(
        request,
        "admin/campaign-audience.html",
        staff,
        count=count,
        list_name=list_name,
        topic_name=topic_name,
    )


@router.post("/admin/briefings/{briefing_id}/campaign")
def create_campaign(
    request: Request,
    briefing_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    clock: Clock,
    list: Annotated[str, Form()] = "",
    topic: Annotated[str, Form()] = "",
    when: Annotated[str, Form()] = "now",
    at: Annotated[str, Form()] = "",
    again: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    once: Annotated[str, Form()] = "",
) -> Response:
    """Schedule, or (after a confirmation that repeats the count and subject) send now.

    ``once`` is the form's one-time key: a second post of the same form (a double click on
    the confirmation) creates nothing and shows the campaign the first one created."""
    fresh = formkeys.usable(once)
    values = {"list": list, "topic": topic, "when": when, "at": at, "again": again}
    values["once"] = once if fresh else formkeys.issue()

    def refuse(message: str) -> Response:
        return _form(
            request, staff, factory, config, briefing_id, values, status=400, error=message
        )

    if fresh:
        with transaction(factory) as session:
            first = formkeys.target(session, once)
        if first:
            return back(first, ALREADY)

    if not list:
        return refuse("choose the list to send to")
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        count, list_name, topic_name = _audience(session, list, topic)
    if count is None:
        return refuse(f"there is no list {list!r}")
    shown = sample.preview(current.briefing, config, wiring.signer(config))
    errors = composer.lint_errors(current.briefing, shown.digest, donations=config.donations_on)
    if errors:
        return refuse(
            f"not sent: the briefing has {len(errors)} lint error(s); fix them on the "
            "briefing's page first"
        )
    try:
        moment = (
            sendtime.resolve(at or None, now_flag=False, zone=config.zone, now=clock)
            if when == "later"
            else None
        )
    except NewsletterError as problem:
        return refuse(_plain(str(problem)))
    if when == "later" and moment is None:
        return refuse("give the date and time to send at")
    if not fresh and (moment is not None or confirm == "yes"):
        return refuse("this form was out of date: check the choices and send again")
    if moment is None and confirm != "yes":
        return render(
            request,
            "admin/campaign-confirm.html",
            staff,
            action=f"/admin/briefings/{briefing_id}/campaign",
            values=values,
            count=count,
            subject=current.briefing.subject,
            list_name=list_name,
            topic_name=topic_name,
            back_to=f"/admin/briefings/{briefing_id}/campaign?list={list}&topic={topic}",
        )
    try:
        with transaction(factory) as session:
            campaign = manager.create(
                session,
                briefing_path=Path(current.label),
                source_text=current.source,
                slug=current.briefing.slug,
                subject=current.briefing.subject,
                list_ref=list,
                topic=topic or None,
            )
            manager.schedule(
                session,
                campaign.id,
                at=moment or clock,  # "now" on the console's clock, as the page reads it
                again=bool(again),
                page=archive.page_for(current.briefing, shown.digest),
                zone=config.zone,
            )
            campaign_id = campaign.id
            formkeys.spend(session, once, f"/admin/campaigns/{campaign_id}", staff.email)
            planned = sendtime.local(moment, config.zone) if moment else "now"
            audit.record(
                session,
                staff.email,
                "campaign.schedule" if moment else "campaign.send",
                f"campaign {campaign_id}",
                f"briefing {briefing_id} v{current.version} to {list_name}"
                f"{' / ' + topic_name if topic_name else ''} ({count} readers), {planned}",
                ip=staff.network,
            )
    except formkeys.KeySpent:  # a parallel post of the same form got there first
        with transaction(factory) as session:
            first = formkeys.target(session, once)
        return back(first or "/admin/campaigns", ALREADY)
    except NewsletterError as problem:
        return refuse(_plain(str(problem)))
    return back(f"/admin/campaigns/{campaign_id}")  # the page's status sentence says what next


def _report(factory: Any, campaign_id: int) -> manager.CampaignProgress:
    with transaction(factory) as session:
        report = manager.report(session, campaign_id)
        session.expunge(report.campaign)
    return report


def _view(report: manager.CampaignProgress, config: Any, now: datetime) -> dict[str, Any]:
    c = report.campaign

    def local(when: Any) -> str:
        return sendtime.local(when, config.zone) if when else ""

    return {
        "campaign": c,
        "list_name": report.list_name,
        "counts": [(state, report.counts[state]) for state in STATES],
        "total": sum(report.counts.values()),
        "rate": report.rate,
        "eta": report.eta_seconds,
        "send_at": local(c.send_at),
        "started": local(c.started_at),
        "finished": local(c.finished_at),
        "live": c.status not in CLOSED,
        "waiting": c.status == S.SCHEDULED,
        "due": c.status == S.SCHEDULED and c.send_at is not None and c.send_at <= now,
    }


def _when(moment: datetime | None, config: Any) -> str:
    return sendtime.local(moment, config.zone) if moment else "not scheduled"


@router.get("/admin/campaigns")
def index(request: Request, staff: Viewer, factory: Sessions, config: Config) -> Response:
    with transaction(factory) as session:
        rows = [
            {
                "id": c.id,
                "subject": c.subject,
                "status": c.status,
                "when": _when(c.started_at or c.send_at, config),
            }
            for c in reversed(manager.all_campaigns(session))
        ]
    return render(request, "admin/campaigns.html", staff, rows=rows)


@router.get("/admin/campaigns/{campaign_id}")
def campaign_page(
    request: Request,
    campaign_id: int,
    staff: Viewer,
    factory: Sessions,
    config: Config,
    clock: Clock,
) -> Response:
    view = _view(_report(factory, campaign_id), config, clock)
    return render(request, "admin/campaign.html", staff, zone=config.timezone, **view)


@router.get("/admin/campaigns/{campaign_id}/progress")
def progress(
    request: Request,
    campaign_id: int,
    staff: Viewer,
    factory: Sessions,
    config: Config,
    clock: Clock,
) -> Response:
    """The status sentence, the counts and the buttons that still apply; htmx asks again
    every two seconds until the send is over, when the buttons give way to the report link."""
    view = _view(_report(factory, campaign_id), config, clock)
    return render(request, "admin/campaign-progress.html", staff, **view)


def _change(staff: Staff, factory: Any, campaign_id: int, action: str, verb: str) -> Response:
    steps = {"pause": manager.pause, "resume": manager.resume, "cancel": manager.cancel}
    try:
        with transaction(factory) as session:
            steps[action](session, campaign_id)
            audit.record(
                session,
                staff.email,
                f"campaign.{action}",
                f"campaign {campaign_id}",
                ip=staff.network,
            )
    except NewsletterError as problem:
        return back(f"/admin/campaigns/{campaign_id}", f"Not {verb}: {problem}")
    return back(f"/admin/campaigns/{campaign_id}")  # the status sentence says it, while true


@router.post("/admin/campaigns/{campaign_id}/pause")
def pause(campaign_id: int, staff: Editor, factory: Sessions) -> Response:
    return _change(staff, factory, campaign_id, "pause", "paused")


@router.post("/admin/campaigns/{campaign_id}/resume")
def resume(campaign_id: int, staff: Editor, factory: Sessions) -> Response:
    return _change(staff, factory, campaign_id, "resume", "resumed")


@router.post("/admin/campaigns/{campaign_id}/cancel")
def cancel(campaign_id: int, staff: Editor, factory: Sessions) -> Response:
    return _change(staff, factory, campaign_id, "cancel", "cancelled")


@router.post("/admin/campaigns/{campaign_id}/now")
def send_now(
    request: Request,
    campaign_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    clock: Clock,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """A scheduled campaign goes at once instead: first a page repeating who and what."""
    report = _report(factory, campaign_id)
    c = report.campaign
    if confirm != "yes":
        with transaction(factory) as session:
            count = audience.count(session, campaign_audience(session, c.id))
        return render(
            request,
            "admin/campaign-confirm.html",
            staff,
            action=f"/admin/campaigns/{campaign_id}/now",
            values={},
            count=count,
            subject=c.subject,
            list_name=report.list_name,
            topic_name="",
            back_to=f"/admin/campaigns/{campaign_id}",
        )
    try:
        with transaction(factory) as session:
            if c.status != S.SCHEDULED:
                raise manager.CampaignStateError(
                    f"campaign {campaign_id} is {c.status}: only a scheduled one can go now"
                )
            manager.schedule(session, campaign_id, at=clock, zone=config.zone)
            audit.record(
                session,
                staff.email,
                "campaign.send",
                f"campaign {campaign_id}",
                "now instead of at the scheduled time",
                ip=staff.network,
            )
    except NewsletterError as problem:
        return back(f"/admin/campaigns/{campaign_id}", f"Not sent: {_plain(str(problem))}")
    return back(f"/admin/campaigns/{campaign_id}")
