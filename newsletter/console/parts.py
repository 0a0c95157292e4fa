"""Editing a briefing by part: the masthead, key decisions, each section and the appeal in
their own fields, each with its lint findings beside it, and a live preview of the unsaved
text as staff type (in the part form and in the Markdown editor). Saving keeps a new version
exactly as the Markdown editor does (the source is rebuilt by ``briefing.parts`` through the
briefing's own writer)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from newsletter import wiring
from newsletter.briefing import lint as linting
from newsletter.briefing import markdown, parts, store
from newsletter.briefing.model import Briefing
from newsletter.console.briefings import save_version, version_in
from newsletter.console.guard import Config, Editor, Sessions, Staff
from newsletter.console.pages import back, render
from newsletter.database import transaction
from newsletter.digest import sample
from newsletter.errors import BriefingError
from subscribers import topics as subscriber_topics

router = APIRouter()
_WHERE = re.compile(r"^the text:(\d+): ")
LABELS = {
    "number": "Number",
    "date": "Date",
    "title": "Title",
    "subject": "Email subject",
    "series": "Series",
    "key-decisions": "Key decisions",
    "appeal-heading": "Appeal heading",
    "appeal": "Appeal text",
    "summary": "Summary (edit it in the Markdown)",
}


@dataclass
class Checked:
    """A draft's findings, each filed under the field it concerns ("" for the whole paper)."""

    problems: list[linting.Problem] = field(default_factory=list)
    located: list[tuple[str, linting.Problem]] = field(default_factory=list)
    by_field: dict[str, list[linting.Problem]] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # the form's fields, in page order
    html: str = ""  # the sample reader's email, for the preview pane
    topics: list[str] = field(default_factory=list)  # the organisation's, for the checkboxes
    failure: str = ""  # the draft does not read back: why, and the field it concerns
    failed_field: str = ""

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error") + (1 if self.failure else 0)


def check(
    source: str, config: Any, name: str = "the briefing", topics: list[str] | None = None
) -> Checked:
    """Lint ``source`` as for sending and render its digest (nothing is stored or sent);
    ``topics``: the organisation's topic names, to check the sections' topics."""
    briefing = markdown.parse(source, source=name)
    shown = sample.preview(briefing, config, wiring.signer(config))
    found = linting.lint(
        briefing,
        for_sending=True,
        digest_html_bytes=len(shown.digest.html.encode()),
        donations=config.donations_on,
        topics=topics,
    )
    checked = Checked(problems=found, html=shown.digest.html, topics=list(topics or []))
    for problem in found:
        key = parts.field_of(problem, briefing)
        checked.located.append((key, problem))
        checked.by_field.setdefault(key, []).append(problem)
    checked.located.sort(key=lambda pair: pair[1].severity != "error")  # errors first
    return checked


def inputs(briefing: Briefing) -> list[str]:
    """The part form's fields for ``briefing``, each with a place for its findings."""
    sections = [
        f"section-{i}{end}"
        for i in range(1, len(briefing.sections) + 1)
        for end in ("-heading", "", "-topics")
    ]
    return [*parts.MASTHEAD, "key-decisions", *sections, "appeal-heading", "appeal"]


def labels(briefing: Briefing) -> dict[str, str]:
    out = dict(LABELS)
    for i, section in enumerate(briefing.sections, 1):
        out[f"section-{i}-heading"] = f"Section {section.number} heading"
        out[f"section-{i}"] = f"Section {section.number} text"
        out[f"section-{i}-topics"] = f"Section {section.number} topics"
    return out


def _names(session: Any) -> list[str]:
    """The organisation's topics (public and hidden) a section may name."""
    return [topic.name for topic in subscriber_topics.current(session)]


def _draft(
    form: Any, current: store.Current, config: Any, names: list[str]
) -> tuple[parts.Parts, Checked, str]:
    """The posted fields, their findings, and their rebuilt source ("" if it does not read)."""
    draft = parts.from_form(form, current.briefing)
    try:
        source = parts.rebuild(draft, current.briefing)
        checked = check(source, config, topics=names)
    except parts.PartError as problem:
        failed = Checked(failure=problem.message, failed_field=problem.field, topics=names)
        source, checked = "", failed
    except BriefingError as problem:
        source, checked = "", Checked(failure=str(problem), topics=names)
    checked.inputs = inputs(current.briefing)
    return draft, checked, source


def _page(
    request: Request,
    staff: Staff,
    current: store.Current,
    draft: parts.Parts,
    checked: Checked,
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    checked.inputs = inputs(current.briefing)
    return render(
        request,
        "admin/briefing-parts.html",
        staff,
        status,
        current=current,
        parts=draft,
        checked=checked,
        labels=labels(current.briefing),
        choices=parts.topic_choices,
        error=error,
        saved=status == 200,  # the findings are the saved version's: they decide sending
    )


@router.get("/admin/briefings/{briefing_id}/parts")
def parts_page(
    request: Request, briefing_id: int, staff: Editor, factory: Sessions, config: Config
) -> Response:
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        names = _names(session)
    draft = parts.parts_of(current.briefing)
    return _page(request, staff, current, draft, check(current.source, config, topics=names))


@router.post("/admin/briefings/{briefing_id}/parts")
async def save_parts(
    request: Request, briefing_id: int, staff: Editor, factory: Sessions, config: Config
) -> Response:
    """Keep the fields as a new version, refused (and shown again) if another was saved since."""
    form = await request.form()
    based_on = version_in(form)
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        names = _names(session)
    draft, checked, source = _draft(form, current, config, names)
    if not source:
        return _page(request, staff, current, draft, checked, status=400, error=checked.failure)
    try:
        with transaction(factory) as session:
            number = save_version(session, staff, briefing_id, source, "edited by part", based_on)
    except (BriefingError, store.EditedMeanwhile) as problem:
        return _page(request, staff, current, draft, checked, status=400, error=str(problem))
    message = f"Saved as version {number}." if number else "Nothing changed."
    return back(f"/admin/briefings/{briefing_id}/parts", message)


@router.post("/admin/briefings/{briefing_id}/parts/preview")
async def live_preview(
    request: Request, briefing_id: int, staff: Editor, factory: Sessions, config: Config
) -> Response:
    """The digest of the unsaved fields and their findings, for htmx as staff type.

    Nothing is saved, sent or published: the answer is the preview pane (the email in a
    sandboxed ``srcdoc`` frame, so no script runs and the page's policy still holds) and
    each field's findings, swapped in beside the fields out of band."""
    form = await request.form()
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
        names = _names(session)
    draft, checked, _source = _draft(form, current, config, names)
    return render(
        request,
        "admin/briefing-live.html",
        staff,
        current=current,
        parts=draft,
        checked=checked,
        labels=labels(current.briefing),
        oob=True,
    )


@router.post("/admin/briefings/{briefing_id}/preview/live")
def live_markdown(
    request: Request,
    briefing_id: int,
    staff: Editor,
    factory: Sessions,
    config: Config,
    source: Annotated[str, Form()] = "",
) -> Response:
    """The digest of the Markdown editor's unsaved text, for htmx as staff type (nothing is
    saved, sent or published)."""
    with transaction(factory) as session:
        current = store.current(session, briefing_id)
    try:
        checked = check(source.replace("\r\n", "\n"), config, name="the text")
    except BriefingError as problem:
        checked = Checked(failure=_WHERE.sub(r"line \1: ", str(problem)))
    return render(
        request,
        "admin/briefing-live.html",
        staff,
        current=current,
        checked=checked,
        labels=labels(current.briefing),
        oob=False,
    )
