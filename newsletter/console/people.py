"""Subscribers in the console: find, look at everything held, edit, unsubscribe, erase
and export (importing is in ``imports``). Each action is the same domain call the
command line makes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from newsletter import privacy
from newsletter.console.guard import Editor, Owner, Sessions, Staff, Viewer
from newsletter.console.pages import back, download, render, scratch_csv
from newsletter.database import transaction
from newsletter.staff import audit
from subscribers import consent, exporter, lists, people
from subscribers.models import MailingList, Status

router = APIRouter()
PAGE = 50


def _context(staff: Staff, form: str) -> consent.Context:
    return consent.Context(
        form=f"console:{form}", user_agent=f"staff console ({staff.email})", ip=staff.network
    )


def _status(value: str) -> Status | None:
    try:
        return Status(value) if value else None
    except ValueError:
        return None


@router.get("/admin/subscribers")
def search(
    request: Request,
    staff: Viewer,
    factory: Sessions,
    q: str = "",
    status: str = "",
    list: str = "",
) -> Response:
    """The search page; htmx asks for the results table alone as the staff member types."""
    with transaction(factory) as session:
        chosen = lists.find(session, list) if list else None
        found = people.search(
            session, status=_status(status), topic=chosen, text=q.strip(), limit=PAGE + 1
        )
        rows = [
            {
                "id": p.id,
                "email": p.email,
                "name": p.name,
                "status": p.status,
                "lists": ", ".join(m.name for m in people.subscribed_lists(session, p)),
            }
            for p in found[:PAGE]
        ]
        all_lists = [(m.slug, m.name) for m in lists.all_lists(session)]
    template = (
        "admin/subscribers-results.html"
        if request.headers.get("HX-Request") == "true"
        else "admin/subscribers.html"
    )
    return render(
        request,
        template,
        staff,
        rows=rows,
        more=len(found) > PAGE,
        filters={"q": q, "status": status, "list": list},
        statuses=[s.value for s in Status],
        lists=all_lists,
    )


@router.get("/admin/subscribers/export.csv")
def export(staff: Owner, factory: Sessions, status: str = "active") -> Response:
    """Personal data leaves the building: owners only, and the audit trail says who."""
    path = scratch_csv()
    with transaction(factory) as session:
        count = exporter.export_csv(session, path, status=_status(status))
        audit.record(
            session,
            staff.email,
            "subscribers.export",
            f"status={status or 'all'}",
            f"{count} people",
            ip=staff.network,
        )
    return download(path, "subscribers.csv")


def _label(target: MailingList) -> str:
    if not target.is_topic:
        return f"{target.name} (list)"
    return f"{target.name} (topic{'' if target.public else ', hidden from the public form'})"


@router.get("/admin/subscribers/{person_id}")
def person_page(request: Request, person_id: int, staff: Viewer, factory: Sessions) -> Response:
    with transaction(factory) as session:
        person = people.get(session, person_id)
        held = privacy.export_person(session, person.email)
        chosen = {m.id for m in people.subscribed_lists(session, person)}
        options = [(m.id, _label(m), m.id in chosen) for m in lists.all_lists(session)]
        history = [
            {
                "at": e.at,
                "action": e.action,
                "lists": ", ".join(e.lists),
                "form": e.form,
                "ip": e.ip,
            }
            for e in consent.history(session, person.id)
        ]
    return render(
        request,
        "admin/person.html",
        staff,
        person=held["subscriber"],
        held=held,
        history=history,
        options=options,
    )


@router.post("/admin/subscribers/{person_id}")
async def edit_person(
    request: Request, person_id: int, staff: Editor, factory: Sessions
) -> Response:
    form = await request.form()
    wanted = {int(v) for v in form.getlist("lists") if isinstance(v, str) and v.isdigit()}
    name = form.get("name")
    with transaction(factory) as session:
        person = people.get(session, person_id)
        chosen = [m for m in lists.all_lists(session) if m.id in wanted]
        context = _context(staff, "edit")
        renamed = people.update(
            session, person, context, name=name if isinstance(name, str) else None
        )
        moved = people.set_memberships(session, person, chosen, context)
        changed = renamed or moved
        if changed:
            audit.record(
                session,
                staff.email,
                "subscriber.edit",
                person.email,
                "lists and topics: " + ", ".join(m.name for m in chosen),
                ip=staff.network,
            )
    message = "Saved." if changed else "Nothing to change."
    if chosen and all(m.is_topic for m in chosen):
        message += " On no list, so no briefing reaches them: topics only narrow a list."
    return back(f"/admin/subscribers/{person_id}", message)


@router.post("/admin/subscribers/{person_id}/unsubscribe")
def unsubscribe(person_id: int, staff: Editor, factory: Sessions) -> Response:
    with transaction(factory) as session:
        person = people.get(session, person_id)
        if people.unsubscribe(session, person, _context(staff, "unsubscribe")):
            audit.record(
                session, staff.email, "subscriber.unsubscribe", person.email, ip=staff.network
            )
    return back(f"/admin/subscribers/{person_id}", "Unsubscribed: no more briefings go to them.")


@router.post("/admin/subscribers/{person_id}/erase")
async def erase(
    person_id: int,
    staff: Owner,
    factory: Sessions,
    typed: Annotated[str, Form()] = "",
) -> Response:
    """Erasure cannot be undone: the owner types the address to say they mean it."""
    with transaction(factory) as session:
        person = people.get(session, person_id)
        address = person.email
        if typed.strip().lower() != address.lower():
            return back(
                f"/admin/subscribers/{person_id}",
                "Not erased: type the address exactly to confirm.",
            )
        erased = privacy.erase(session, address, _context(staff, "erase"))
        audit.record(
            session,
            staff.email,
            "subscriber.erase",
            f"subscriber #{person_id}",
            str(erased),
            ip=staff.network,
        )
    return back(
        "/admin/subscribers",
        f"Erased subscriber #{person_id}; their address is "
        "kept only as a hash so they are never mailed again.",
    )
