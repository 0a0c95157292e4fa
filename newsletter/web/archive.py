"""Web archive pages ("view in browser"), written by ``briefing render`` and campaigns."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from newsletter.errors import NotFound

router = APIRouter()
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,120}")


@router.get("/archive/{slug}")
def archive_page(slug: str, request: Request) -> FileResponse:
    if not _SLUG.fullmatch(slug):
        raise NotFound("no such briefing")
    path = request.app.state.settings.archive_dir / f"{slug}.html"
    if not path.is_file():
        raise NotFound("no such briefing")
    return FileResponse(path, media_type="text/html; charset=utf-8")
