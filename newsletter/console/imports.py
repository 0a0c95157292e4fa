"""Importing a CSV file in the console, in four steps: upload; say which column is which
(prefilled from what the file looks like, written as the command line's ``--map``); a dry
run showing what would change; the import, whose progress the page follows."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from newsletter.console import importjobs
from newsletter.console.guard import Config, Editor, Sessions, Staff
from newsletter.console.pages import render
from newsletter.database import transaction
from newsletter.errors import NewsletterError, NotFound
from newsletter.staff import audit
from subscribers import csvfile, formats, importer, importreport

router = APIRouter()
UPLOAD_LIMIT = 50 * 1024 * 1024  # a million rows of a typical export fit in this
PAGE = "admin/import.html"
FIELD_NAMES = {
    "email": "Email address",
    "name": "Full name",
    "first_name": "First name",
    "last_name": "Last name",
    "language": "Language",
    "topics": "Topics",
    "tags": "Tags (private)",
    "status": "Status",
    "ignore": "Ignore: do not import",
}


def _folder() -> Path:
    folder = Path(tempfile.gettempdir()) / "newsletter-console-uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _problem(request: Request, staff: Staff, status: int, error: str) -> Response:
    return render(request, PAGE, staff, status, step="upload", error=error)


@router.get("/admin/subscribers/import")
def import_page(request: Request, staff: Editor) -> Response:
    return render(request, PAGE, staff, step="upload", error="")


def _mapping_text(header: list[str], chosen: list[str]) -> str:
    """The ``--map`` text for the fields staff chose, one per column; ``FormatError``
    for a choice that cannot be written so."""
    if len(chosen) != len(header):
        raise formats.FormatError("the file changed since it was uploaded: upload it again")
    if chosen.count("email") != 1:
        raise formats.FormatError("choose exactly one column that holds the email addresses")
    parts = []
    for cell, field_name in zip(header, chosen, strict=True):
        if field_name not in formats.MAP_FIELDS:
            raise formats.FormatError(f"{field_name!r} is not something a column can be")
        if not cell.strip():
            continue  # a column without a name is read by nothing
        if "," in cell and field_name != "ignore":
            raise formats.FormatError(f"the column {cell!r} has a comma in its name: rename it")
        if "," not in cell:
            parts.append(f"{cell.strip()}={field_name}")
    return ",".join(parts)


@router.post("/admin/subscribers/import")
async def import_upload(
    request: Request,
    staff: Editor,
    factory: Sessions,
    config: Config,
    file: UploadFile | None = None,
    upload: Annotated[str, Form()] = "",
    list_name: Annotated[str, Form()] = "",
    consent_basis: Annotated[str, Form()] = "",
    mapping: Annotated[str, Form(alias="map")] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Each step posts here with what the earlier steps said.

    The same rules as ``subscribers import``: a file that does not record each person's
    status needs the consent basis stated, and nobody who left is made active."""
    form = await request.form()
    kept: dict[str, Any] = {"list_name": list_name, "consent_basis": consent_basis}
    if file is not None and file.filename:
        data = await file.read(UPLOAD_LIMIT + 1)
        if len(data) > UPLOAD_LIMIT:
            error = "the file is larger than 50 MB; split it or use the command line"
            return _problem(request, staff, 413, error)
        with tempfile.NamedTemporaryFile(dir=_folder(), suffix=".csv", delete=False) as handle:
            handle.write(data)
        upload = Path(handle.name).name
        try:
            seen = csvfile.preview(Path(handle.name))
        except NewsletterError as problem:
            return _problem(request, staff, 400, str(problem))
        columns = list(zip(seen.header, seen.samples, seen.fields, strict=True))
        return render(
            request,
            PAGE,
            staff,
            step="map",
            upload=upload,
            columns=columns,
            choices=FIELD_NAMES,
            error="",
            **kept,
        )
    path = _folder() / Path(upload).name if upload else None
    if path is None or not path.is_file():
        return _problem(request, staff, 400, "choose a CSV file to upload")
    try:
        if "field" in form:
            chosen = [str(v) for v in form.getlist("field")]
            mapping = _mapping_text(csvfile.preview(path).header, chosen)
        columns_map = formats.parse_map(mapping) if mapping else None
    except NewsletterError as problem:
        return _problem(request, staff, 400, str(problem))

    def run(job: importjobs.Job | None = None, dry_run: bool = True) -> importreport.Summary:
        return importer.import_csv(
            factory,
            path,
            list_name=list_name or None,
            dry_run=dry_run,
            errors_path=path.with_suffix(".errors.csv"),
            default_language=config.language,
            consent=consent_basis.strip(),
            mapping=columns_map,
            progress=job.progress if job is not None else None,
        )

    if confirm == "yes":

        def work(job: importjobs.Job) -> importreport.Summary:
            summary = run(job, dry_run=False)
            with transaction(factory) as session:
                audit.record(
                    session,
                    staff.email,
                    "subscribers.import",
                    list_name or "",
                    f"{summary.added} added, {summary.updated} updated of {summary.rows} rows",
                    ip=staff.network,
                )
            return summary

        job_id = importjobs.start(factory, path.stat().st_size, work, staff=staff.email)
        return render(request, PAGE, staff, step="importing", **_progress(factory, job_id))
    try:
        summary = run()
    except NewsletterError as problem:
        return _problem(request, staff, 400, str(problem))
    rows, notes = importreport.report(summary)
    return render(
        request,
        PAGE,
        staff,
        step="dry-run",
        summary=rows,
        notes=notes,
        upload=upload,
        mapping=mapping,
        rejected=importjobs.rejected_file(summary),
        error="",
        **kept,
    )


def _progress(factory: Sessions, job_id: str) -> dict[str, Any]:
    job = importjobs.get(factory, job_id)
    if job is None:
        raise NotFound("that import is not known here; start it again from the import page")
    return {
        "job_id": job_id,
        "job": job,
        "done": job.done,
        "percent": job.percent,
        "summary": job.summary,
        "notes": job.notes,
        "rejected": job.rejected,
        "error": job.error,
    }


@router.get("/admin/subscribers/import/progress/{job_id}")
def import_progress(request: Request, job_id: str, staff: Editor, factory: Sessions) -> Response:
    """How far the import got; htmx asks again every second until it is over (and a
    browser without script gets the whole page from the link beside the bar)."""
    if request.headers.get("HX-Request") == "true":
        return render(request, "admin/import-progress.html", staff, **_progress(factory, job_id))
    return render(request, PAGE, staff, step="importing", **_progress(factory, job_id))


@router.get("/admin/subscribers/import/rejected/{name}")
def rejected_rows(name: str, _staff: Editor) -> Response:
    path = _folder() / Path(name).name
    if not name.endswith(".errors.csv") or not path.is_file():
        raise NotFound("that file of rejected rows is gone; import again to make a new one")
    return FileResponse(path, media_type="text/csv", filename="rejected-rows.csv")
