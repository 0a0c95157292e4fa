"""Web archive pages ("view in browser"), written by ``briefing render`` and campaigns,
and the home page that lists them beside the subscribe and donate links."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from newsletter.errors import NotFound

router = APIRouter()
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,120}")
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_NUMBER = re.compile(r"^(\d+)-")


@dataclass(frozen=True)
class Entry:
    slug: str
    title: str
    number: int


def entries(archive_dir: Path) -> list[Entry]:
    """Published briefings, newest number first; the title is read from each page's head."""
    found = []
    for path in archive_dir.glob("*.html") if archive_dir.is_dir() else ():
        if not _SLUG.fullmatch(path.stem):
            continue
        with path.open(encoding="utf-8", errors="replace") as page:
            head = page.read(4096)
        match = _TITLE.search(head)
        title = html.unescape(match.group(1)).split(" · ")[0].strip() if match else path.stem
        number = _NUMBER.match(path.stem)
        found.append(Entry(path.stem, title, int(number.group(1)) if number else 0))
    return sorted(found, key=lambda e: (-e.number, e.slug))


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    state = request.app.state
    page = state.templates.get_template("home.html").render(
        settings=state.settings.public(), briefings=entries(state.settings.archive_dir)
    )
    return HTMLResponse(page)


@router.get("/archive/{slug}")
def archive_page(slug: str, request: Request) -> FileResponse:
    if not _SLUG.fullmatch(slug):
        raise NotFound("no such briefing")
    path = request.app.state.settings.archive_dir / f"{slug}.html"
    if not path.is_file():
        raise NotFound("no such briefing")
    return FileResponse(path, media_type="text/html; charset=utf-8")
