"""Briefings in the console: upload a paper, edit its Markdown, fill its links, check it,
preview it as a reader will see it, and send test copies. Each action is the domain call the
command line makes (``briefing import``, ``briefing links``, ``briefing lint``,
``briefing render``, ``send-test``); the console only keeps the text in the database."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from newsletter import wiring
from newsletter.briefing import links as linkfix
from newsletter.briefing import lint as linting
from newsletter.briefing import parts, store, writer
from newsletter.briefing import topics as section_topics
from newsletter.briefing.paper import read_paper
from newsletter.console import copies
from newsletter.console.guard import Config, Editor, Sessions, Staff, Viewer
from newsletter.console.pages import back, render
from newsletter.database import transaction
from newsletter.digest import sample
from newsletter.errors import BriefingError, NewsletterError
from newsletter.staff import audit
from subscribers import topics as subscriber_topics

router = APIRouter()
UPLOAD_LIMIT = 20 * 1024 * 1024
KINDS = (".docx", ".pdf", ".txt", ".md", ".html", ".htm")
# The preview frames hold email HTML: no script, no plugin, nothing fetched but images.
FRAME_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "font-src https: data:; frame-ancestors 'self'"
)


def problems(
    current: store.Current, config: Any, topics: list[str] | None = None
) -> list[linting.Problem]:
    """The linter's findings as they stand for sending (placeholder links are errors);
    ``topics``: the organisation's topic names, to check the sections' topics."""
    preview = sample.preview(current.briefing, config, wiring.signer(config))
    return linting.lint(
        current.briefing,
        for_sending=True,
        digest_html_bytes=len(preview.digest.html.encode()),
        donations=config.donations_on,
        topics=topics,
    )


def beside(found: list[linting.Problem], current: store.Current) -> dict[str, list[Any]]:
    """The findings by the briefing page's field they concern: title, subject, the links
    table, or the Markdown text (with their lines) for everything else."""
    out: dict[str, list[Any]] = {"title": [], "subject": [], "links": [], "source": []}
    for problem in found:
        key = parts.field_of(problem, current.briefing)
        if problem.code in parts.LINK_CODES:
            key = "links"
        out[key if key in out else "source"].append(problem)
    return out


def version_in(form: Any) -> int | None:
    """The version the form was opened on, which a save must not overwrite someone else's over."""
    version = form.get("version")
    return int(version) if isinstance(version, str) and version.isdigit() else None


def save_version(
    session: Session, staff: Staff, briefing_id: int, source: str, what: str, based_on: int | None
) -> int | None:
    """Keep ``source`` as a new version (refused over someone's newer one) and put it in the
    audit trail; None when nothing changed."""
    number = store.save(session, briefing_id, source, staff.email, what, based_on=based_on)
    if number:
        detail = f"version {number}" + ("" if what == "edited" else f": {what}")
        audit.record(
            session, staff.email, "briefing.save", f"briefing {briefing_id}", detail,
            ip=staff.network,
        )  # fmt: skip
    return number


@router.get("/admin/briefings")
def index(request: Request, staff: Viewer, factory: Sessions) -> Response:
    with transaction(factory) as session:
        rows = [
            {"id": b.id, "title": b.title, "versions": n, "by": b.created_by, "at": b.created_at}
            for b, n in store.all_briefings(session)
        ]
    return render(request, "admin/briefings.html", staff, rows=rows, error="", kinds=KINDS)


@router.post("/admin/briefings")
async def upload(
    request: Request, staff: Editor, factory: Sessions, file: UploadFile | None = None
) -> Response:
    """Import the paper as ``briefing import`` does and keep the result as version 1."""
    name = Path(file.filename or "").name if file is not None else ""
    suffix = Path(name).suffix.lower()

    def refuse(message: str, status: int = 400) -> Response:
        with transaction(factory) as session:
            rows = [
                {
                    "id": b.id,
                    "title": b.title,
                    "versions": n,
                    "by": b.created_by,
                    "at": b.created_at,
                }
                for b, n in store.all_briefings(session)
            ]
        return render(
            request, "admin/briefings.html", staff, status, rows=rows, error=message, kinds=KINDS
        )

    if file is None or not name:
        return refuse("choose the paper to upload (Word, PDF, text, Markdown or HTML)")
    if suffix not in KINDS:
        return refuse(f"{name}: upload a .docx, .pdf, .txt, .md or .html file")
    data = await file.read(UPLOAD_LIMIT + 1)
    if len(data) > UPLOAD_LIMIT:
        return refuse(f"{name} is larger than 20 MB", 413)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"paper{suffix}"
        path.write_bytes(data)
        try:
            briefing, _kind, notes = read_paper(path)
        except NewsletterError as problem:
            return refuse(f"{name}: {problem}".replace(str(path), name))
    with transaction(factory) as session:
        names = [topic.name for topic in subscriber_topics.current(session)]
        source = writer.dump(section_topics.guess(briefing, names))  # staff edit the guesses
        stored = store.create(session, source, staff.email, f"uploaded {name}")
        audit.record(
            session, staff.email, "briefing.upload", f"briefing {stored.id}", name, ip=staff.network
        )
        briefing_id = stored.id
    placeholders = sum(1 for link in briefing.links if link.is_placeholder)
    message = f"Imported {name}: {briefing.title}."
    if placeholders:
        message += f" {placeholders} link(s) to fill in below."
    if notes:
        message += " " + " ".join(notes)
    return back(f"/admin/briefings/{briefing_id}", message)


def _edit_page(
    request: Request,
    staff: Staff,
    factory: Any,
    config: Any,
    briefing_id: int,
    *,
    status: int = 200,
    error: str = "",
    draft: str | None = None,
) -> Response:
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        history = [
            {"number": v.number, "by": v.saved_by, "at": v.saved_at, "note": v.note}
            for v in store.versions(session, briefing_id)
        ]
        names = [topic.name for topic in subscriber_topics.current(session)]
    found = problems(current, config, names)
    return render(
        request,
        "admin/briefing.html",
        staff,
        status,
        current=current,
        source=current.source if draft is None else draft,
        problems=found,
        errors=sum(1 for p in found if p.severity == "error"),
        beside=beside(found, current),
        links=linkfix.find(current.source),
        history=history,
        error=error,
    )


@router.get("/admin/briefings/{briefing_id}")
def edit_page(
    request: Request, briefing_id: int, staff: Viewer, factory: Sessions, config: Config
) -> Response:
    return _edit_page(request, staff, factory, config, briefing_id)


@router.post("/admin/briefings/{briefing_id}")
def save(
    request: Request,
    briefing_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    source: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
) -> Response:
    """Keep the edited text as a new version, if it reads back as a briefing."""
    text = source.replace("\r\n", "\n")
    try:
        with transaction(factory) as session:
            number = save_version(session, staff, briefing_id, text, "edited", version)
    except (BriefingError, store.EditedMeanwhile) as problem:
        return _edit_page(
            request, staff, factory, config, briefing_id, status=400, error=str(problem), draft=text
        )
    message = f"Saved as version {number}." if number else "Nothing changed."
    return back(f"/admin/briefings/{briefing_id}", message)


@router.post("/admin/briefings/{briefing_id}/title")
def retitle(
    request: Request,
    briefing_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    title: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
) -> Response:
    """The title and the email subject in plain fields, without touching the Markdown."""
    try:
        with transaction(factory) as session:
            current = store.current(session, briefing_id)
            source = store.retitled(current.source, title, subject)
            number = save_version(session, staff, briefing_id, source, "title and subject", version)
    except (BriefingError, store.EditedMeanwhile) as problem:
        return _edit_page(
            request, staff, factory, config, briefing_id, status=400, error=str(problem)
        )
    message = f"Saved as version {number}." if number else "Nothing changed."
    return back(f"/admin/briefings/{briefing_id}", message)


@router.post("/admin/briefings/{briefing_id}/links")
async def fill_links(
    request: Request, briefing_id: int, staff: Editor, factory: Sessions, config: Config
) -> Response:
    """Fill the links table's addresses in, as ``briefing links --fill`` does with a CSV."""
    form = await request.form()
    based_on = version_in(form)
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
    found = linkfix.find(current.source)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["line", "text", "url"])
    given = 0
    for index, finding in enumerate(found):
        url = form.get(f"url-{index}")
        if isinstance(url, str) and url.strip():
            writer.writerow([finding.line, finding.text, url.strip()])
            given += 1
    if not given:
        return back(f"/admin/briefings/{briefing_id}", "No address was given: nothing filled.")
    try:
        rows = linkfix.read_rows(table.getvalue())
        source, filled, _unused = linkfix.fill(current.source, rows)
        with transaction(factory) as session:
            number = store.save(
                session, briefing_id, source, staff.email, "links filled", based_on=based_on
            )
            audit.record(
                session,
                staff.email,
                "briefing.links",
                f"briefing {briefing_id}",
                f"{filled} link(s) filled, version {number}",
                ip=staff.network,
            )
    except (BriefingError, store.EditedMeanwhile) as problem:
        why = re.sub(r"^row \d+: ", "", str(problem))  # the rows are the table's, not a CSV's
        return _edit_page(request, staff, factory, config, briefing_id, status=400, error=why)
    return back(f"/admin/briefings/{briefing_id}", f"Filled {filled} link(s).")


@router.get("/admin/briefings/{briefing_id}/preview")
def preview_page(
    request: Request,
    briefing_id: int,
    staff: Viewer,
    factory: Sessions,
    config: Config,
    topic: Annotated[list[str] | None, Query()] = None,
    reader: str = "",
) -> Response:
    """The copy of the sample reader, of a reader following the ``topic``s, or of the person
    at ``reader`` (their chosen topics). Only reads: nothing is stored, sent or published."""
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        shown = copies.copy_for(session, current.briefing, topic or (), reader)
        offered = copies.offered(session)
    return render(
        request,
        "admin/briefing-preview.html",
        staff,
        current=current,
        preview=sample.preview(current.briefing, config, wiring.signer(config), shown.first),
        clip=sample.CLIP_BYTES,
        copy=shown,
        offered=offered,
    )


def _framed(html: str) -> Response:
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": FRAME_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


@router.get("/admin/briefings/{briefing_id}/preview/digest.html")
def digest_frame(
    briefing_id: int,
    _staff: Viewer,
    factory: Sessions,
    config: Config,
    topic: Annotated[list[str] | None, Query()] = None,
    reader: str = "",
) -> Response:
    """The email HTML of the copy the preview page shows, for its frames (never published)."""
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        shown = copies.copy_for(session, current.briefing, topic or (), reader)
    signer = wiring.signer(config)
    return _framed(sample.preview(current.briefing, config, signer, shown.first).digest.html)


@router.get("/admin/briefings/{briefing_id}/preview/web.html")
def web_frame(briefing_id: int, _staff: Viewer, factory: Sessions, config: Config) -> Response:
    """The web archive page as it will be published when a campaign starts (not before)."""
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
    return _framed(sample.preview(current.briefing, config, wiring.signer(config)).digest.web_html)


@router.post("/admin/briefings/{briefing_id}/test")
def test_send(
    briefing_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    to: Annotated[str, Form()] = "",
    topic: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A real copy to each staff address given, through the configured transport: the copy
    of a reader who follows the ticked ``topic``s (their sections first), if any."""
    addresses = [a for a in re.split(r"[\s,;]+", to) if a]
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        shown = copies.copy_for(session, current.briefing, topic or ())
    where = f"/admin/briefings/{briefing_id}/preview"
    where += f"?{shown.query}" if shown.query else ""
    if not addresses:
        return back(where, "Not sent: give at least one address.")
    try:
        transport = wiring.transport(config)  # a bad SMTP URL fails here, before any work
        sent = sample.send_test(
            current.briefing, config, transport, wiring.signer(config), addresses, first=shown.first
        )
    except NewsletterError as problem:
        return back(where, f"Not sent: {problem}")
    whom = ", ".join(c.address for c in sent)
    followed = f" as a reader who follows {', '.join(shown.topics)}" if shown.topics else ""
    with transaction(factory) as session:
        audit.record(
            session,
            staff.email,
            "briefing.test-send",
            f"briefing {briefing_id}",
            whom + followed,
            ip=staff.network,
        )
    return back(where, f"Test copy sent to {whom}{followed}.")
