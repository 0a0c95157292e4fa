"""Rendering a console page: the shared layout's context in one place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.background import BackgroundTask

from newsletter.console.guard import CSRF_FIELD, Staff
from newsletter.staff.models import Role

NAV = (
    ("/admin", "Home", Role.VIEWER),
    ("/admin/briefings", "Briefings", Role.VIEWER),
    ("/admin/campaigns", "Campaigns", Role.VIEWER),
    ("/admin/subscribers", "Subscribers", Role.VIEWER),
    ("/admin/gifts", "Gifts", Role.VIEWER),
    ("/admin/reports/growth", "Growth", Role.VIEWER),
    ("/admin/audit", "Audit trail", Role.OWNER),
    ("/admin/staff", "Staff", Role.OWNER),
    ("/admin/settings", "Settings", Role.OWNER),
    ("/admin/account", "Your account", Role.VIEWER),
)


def render(
    request: Request,
    template: str,
    staff: Staff | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page, never cached: console pages show personal data."""
    settings = request.app.state.settings
    context.setdefault("done", request.query_params.get("done", "")[:300])
    nav = [(href, label) for href, label, role in NAV if staff and staff.may(role)]
    html = request.app.state.templates.get_template(template).render(
        settings=settings.public(),
        staff=staff,
        nav=nav,
        path=request.url.path,
        csrf_field=CSRF_FIELD,
        csrf_token=staff.csrf if staff else context.pop("csrf_token", ""),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def back(location: str, message: str = "") -> RedirectResponse:
    """303 to a console page (a relative URL: never a host taken from the request)."""
    if message:
        sep = "&" if "?" in location else "?"
        location = f"{location}{sep}done={quote(message)}"
    return RedirectResponse(location, status_code=303)


def scratch_csv() -> Path:
    """A private temporary file for one download (``download`` deletes it once sent)."""
    descriptor, name = tempfile.mkstemp(suffix=".csv")
    os.close(descriptor)
    return Path(name)


def download(path: Path, filename: str) -> FileResponse:
    """A CSV of personal data: never cached, and gone from the server once sent."""
    return FileResponse(
        path,
        media_type="text/csv",
        filename=filename,
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
