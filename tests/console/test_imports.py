"""The console's import: upload, say which column is which, see what would change, import
while the page follows its progress; the mapping is the command line's ``--map``."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.console import importjobs
from newsletter.database import transaction
from newsletter.staff.models import AuditEvent, Role
from subscribers import formats, importreport, people
from subscribers.errors import Conflict
from tests.console.conftest import Console, form_token

GERMAN = (
    "E-Mail;Vorname;Nachname;Sprache\n"
    "juergen@example.org;Jürgen;Müller;de\n"
    "not-an-address;Kein;Name;de\n"
    "anna@example.org;Anna;Schmidt;de\n"
).encode()
KEPT = {"list_name": "All briefings", "consent_basis": "Signed up at our conference"}


def _finished(console: Console, job_id: str) -> importjobs.Snapshot:
    """The import once over: waits on its thread here, then reads what the page reads."""
    here = importjobs.running(job_id)
    assert here is None or here.done.wait(60)
    found = importjobs.get(console.app.state.sessions, job_id)
    assert found is not None and found.done
    return found


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name}"
    return match.group(1)


def _selected(page: str) -> list[str]:
    """The chosen option of each column's select, in column order."""
    selects = re.findall(r'<select name="field".*?</select>', page, re.S)
    return [re.search(r'value="([^"]+)" selected', s).group(1) for s in selects]  # type: ignore[union-attr]


def _upload(client: TestClient, data: bytes) -> str:
    page = client.get("/admin/subscribers/import")
    answer = client.post(
        "/admin/subscribers/import",
        data={"csrf_token": form_token(page.text), **KEPT},
        files={"file": ("kontakte.csv", data, "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def test_columns_are_mapped_checked_then_imported_while_the_page_follows(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    mapping = _upload(editor, GERMAN)
    assert "Which column is which?" in mapping
    assert "juergen@example.org, not-an-address" in mapping and "Jürgen, Kein" in mapping
    assert _selected(mapping) == ["email", "ignore", "ignore", "ignore"]  # as recognised

    checked = editor.post(
        "/admin/subscribers/import",
        data={
            "csrf_token": form_token(mapping),
            "upload": _hidden(mapping, "upload"),
            "field": ["email", "first_name", "last_name", "language"],
            **KEPT,
        },
    )
    assert checked.status_code == 200 and "nothing is changed yet" in checked.text
    written = _hidden(checked.text, "map")
    assert written == "E-Mail=email,Vorname=first_name,Nachname=last_name,Sprache=language"
    assert formats.parse_map(written) == {  # what ``--map`` would make of it
        "e mail": "email",
        "vorname": "first",
        "nachname": "last",
        "sprache": "language",
    }
    with transaction(console.app.state.sessions) as session:
        assert people.find(session, "juergen@example.org") is None

    started = editor.post(
        "/admin/subscribers/import",
        data={
            "csrf_token": form_token(checked.text),
            "upload": _hidden(checked.text, "upload"),
            "map": written,
            "confirm": "yes",
            **KEPT,
        },
    )
    assert started.status_code == 200 and "<progress" in started.text
    # running or (on a fast machine) already over, the page links to the import's own report
    job_id = re.search(r"/admin/subscribers/import/progress/([\w-]+)", started.text).group(1)  # type: ignore[union-attr]
    _finished(console, job_id)
    fragment = editor.get(
        f"/admin/subscribers/import/progress/{job_id}", headers={"HX-Request": "true"}
    )
    assert "Import complete" in fragment.text and "hx-get" not in fragment.text  # polling ends
    assert "<html" not in fragment.text
    whole = editor.get(f"/admin/subscribers/import/progress/{job_id}")
    assert "<html" in whole.text and "Import complete" in whole.text
    rejected = fragment.text.split('href="/admin/subscribers/import/rejected/')[1].split('"')[0]
    assert "not-an-address" in editor.get(f"/admin/subscribers/import/rejected/{rejected}").text

    with transaction(console.app.state.sessions) as session:
        person = people.find(session, "juergen@example.org")
        assert person is not None and (person.name, person.language) == ("Jürgen Müller", "de")
        assert [p.email for p in people.search(session, text="jurgen muller")] == [person.email]
        actions = set(session.scalars(select(AuditEvent.action)))
    assert "subscribers.import" in actions


def test_a_mapping_without_one_email_column_is_refused_in_one_line(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    mapping = _upload(editor, GERMAN)
    refused = editor.post(
        "/admin/subscribers/import",
        data={
            "csrf_token": form_token(mapping),
            "upload": _hidden(mapping, "upload"),
            "field": ["ignore", "first_name", "last_name", "language"],
            **KEPT,
        },
    )
    assert refused.status_code == 400
    assert "choose exactly one column that holds the email addresses" in refused.text


def test_a_progress_page_for_an_unknown_import_says_so(
    signed_in: Callable[[Role], TestClient],
) -> None:
    editor = signed_in(Role.EDITOR)
    answer = editor.get("/admin/subscribers/import/progress/nothing-here")
    assert answer.status_code == 404 and "not known here" in answer.text


def test_the_page_follows_a_running_import_and_says_when_it_stopped(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    reported, release = threading.Event(), threading.Event()

    def work(job: importjobs.Job) -> importreport.Summary:
        job.progress(12_345, job.size // 4)
        reported.set()
        assert release.wait(60)
        raise Conflict("a list was removed while the import ran; nothing was imported")

    job_id = importjobs.start(console.app.state.sessions, 4000, work)
    assert reported.wait(60)
    running = editor.get(
        f"/admin/subscribers/import/progress/{job_id}", headers={"HX-Request": "true"}
    )
    assert 'hx-trigger="every 1s"' in running.text  # asks again
    assert '<progress id="import-bar" max="100" value="25">' in running.text
    assert "12,345 rows read so far" in running.text
    release.set()
    _finished(console, job_id)
    stopped = editor.get(
        f"/admin/subscribers/import/progress/{job_id}", headers={"HX-Request": "true"}
    )
    assert "The import stopped; nothing was changed" in stopped.text
    assert "a list was removed while the import ran" in stopped.text
    assert "hx-get" not in stopped.text


def test_another_web_process_shows_the_progress_and_the_result(
    console: Console, signed_in: Callable[[Role], TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve --workers N``: the poll may reach a process that is not running the import,
    which knows only what the database holds."""
    editor = signed_in(Role.EDITOR)
    sessions = console.app.state.sessions
    server_database = sessions.kw["bind"].dialect.name != "sqlite"
    reported, release = threading.Event(), threading.Event()

    def work(job: importjobs.Job) -> importreport.Summary:
        job.progress(2_000, job.size // 2)
        reported.set()
        assert release.wait(60)
        added = Counter({"active": 3_990})
        return importreport.Summary(path=Path("people.csv"), rows=4_000, added_as=added)

    job_id = importjobs.start(sessions, 4000, work, tick=0.01)
    assert reported.wait(60)
    elsewhere = importjobs.running(job_id)
    monkeypatch.setattr(importjobs, "running", lambda _job_id: None)  # another process
    page = f"/admin/subscribers/import/progress/{job_id}"
    if server_database:  # written about once a tick, while the import still runs
        seen = threading.Event()
        for _ in range(6_000):
            if "2,000 rows read so far" in editor.get(page, headers={"HX-Request": "true"}).text:
                seen.set()
                break
            seen.wait(0.01)
        assert seen.is_set(), "the progress never reached the database"
    else:  # the import holds SQLite's write lock: other processes see it start, then end
        assert "Importing" in editor.get(page, headers={"HX-Request": "true"}).text
    release.set()
    assert elsewhere is not None and elsewhere.done.wait(60)
    over = editor.get(page, headers={"HX-Request": "true"})
    assert "Import complete" in over.text and "4,000 rows read" in over.text
    assert "added as active" in over.text and "3,990" in over.text
