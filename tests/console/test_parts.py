"""Editing a briefing by part: the fields, saving through the briefing's writer (with the
conflict check), lint beside each field, and the live preview of unsaved text."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

from fastapi.testclient import TestClient

from newsletter.briefing import store, writer
from newsletter.database import transaction
from newsletter.staff import audit
from newsletter.staff.models import Role
from subscribers import topics
from tests.briefing.helpers import without_lines
from tests.console.conftest import Console, form_token
from tests.console.test_briefings import fill, upload

FIRST = "Exports rose by a fifth, led by [air defence systems]"
NEW = "Ministers agreed to publish every licence within a month."


def fields(page: str) -> dict[str, Any]:
    """Every input and text area of the part form, as the browser would post them: a group
    of checkboxes as the list of its ticked values (none ticked, nothing posted)."""
    form = page.split('class="parts"', 1)[1].split("</form>", 1)[0]
    out: dict[str, Any] = {}
    for m in re.finditer(r'<input([^>]*?)name="([^"]+)" value="([^"]*)"([^>]*)>', form):
        if 'type="checkbox"' not in m[1]:
            out[m[2]] = unescape(m[3])
        elif " checked" in m[4]:
            out.setdefault(m[2], []).append(unescape(m[3]))
    for m in re.finditer(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        out[m[1]] = unescape(m[2])
    return out


def beside(page: str, key: str) -> str:
    """The findings shown beside one field."""
    match = re.search(
        rf'<div id="problems-{key}" class="field-problems"[^>]*>(.*?)</div>', page, re.S
    )
    assert match, f"no findings place for {key}"
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def source(console: Console, briefing_id: int = 1) -> store.Current:
    with transaction(console.app.state.sessions) as session:
        return store.current(session, briefing_id)


def test_an_unchanged_part_form_saves_nothing_and_shows_every_part(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(f"{url}/parts").text
    data = fields(page)
    assert data["title"] == "European arms exports reach a ten-year high"
    assert data["number"].isdigit() and re.fullmatch(r"\d{4}-\d\d-\d\d", data["date"])
    assert data["key-decisions"].split("\n")[0].startswith(FIRST)
    assert data["section-1-heading"] == "Air defence leads the rise"
    assert "[SIPRI Arms Transfers Database](#)" in data["section-1"]
    assert data["appeal-heading"] == "Support independent monitoring"
    answer = editor.post(f"{url}/parts", data=data)
    assert "Nothing changed." in answer.text
    assert source(console).version == 1


def test_a_key_decision_edited_by_part_is_saved_through_the_writer(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    before = source(console)
    data = fields(editor.get(f"{url}/parts").text)
    lines = data["key-decisions"].split("\n")
    data["key-decisions"] = "\n".join(["- " + NEW, *lines[1:], ""])  # a pasted bullet
    data["subject"] = "Arms exports: a ten-year high"
    answer = editor.post(f"{url}/parts", data=data)
    assert answer.status_code == 200 and "Saved as version 2." in answer.text
    after = source(console)
    assert after.version == 2 and after.saved_by == "editor@example.org"
    assert after.briefing.key_decisions[0].text == NEW
    assert after.briefing.email_subject == "Arms exports: a ten-year high"
    assert after.source == writer.dump(after.briefing)  # the writer's canonical text
    was, now = without_lines(before.briefing), without_lines(after.briefing)
    assert now.sections == was.sections and now.appeal == was.appeal  # the rest as it was
    assert now.summary == was.summary and now.contact == was.contact
    assert "edited by part" in editor.get(url).text
    with transaction(console.app.state.sessions) as session:
        events = audit.events(session, actor="editor@example.org")
    assert any(e.action == "briefing.save" and "by part" in e.detail for e in events)


def test_a_section_that_does_not_read_back_is_refused_beside_its_field(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    data = fields(editor.get(f"{url}/parts").text)
    data["section-2"] += "\n\n## 3. A section typed into the text"
    data["key-decisions"] = NEW
    answer = editor.post(f"{url}/parts", data=data)
    assert answer.status_code == 400
    here = beside(answer.text, "section-2")
    assert "headings cannot go inside a part" in here and re.search(r"line \d+:", here)
    assert re.search(
        r'id="section-2" name="section-2"[^>]*aria-describedby="hint-section-2 '
        r'problems-section-2" aria-invalid="true"',
        answer.text,
    )
    assert 'href="#section-2">Section 2 text</a>' in answer.text  # the summary leads there
    assert NEW in answer.text  # what was typed is kept, not lost
    assert source(console).version == 1
    for broken, key in (
        ({"number": "twelve"}, "number"),
        ({"date": "2024-02-30"}, "date"),
        ({"section-1-heading": " "}, "section-1-heading"),
    ):
        answer = editor.post(
            f"{url}/parts", data={**fields(editor.get(f"{url}/parts").text), **broken}
        )
        assert answer.status_code == 400 and beside(answer.text, key).startswith("Error:"), key
    assert source(console).version == 1


def test_saving_by_part_over_a_newer_version_is_refused(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    data = fields(editor.get(f"{url}/parts").text)
    fill(editor, url)  # someone fills the links meanwhile: version 2
    answer = editor.post(f"{url}/parts", data={**data, "key-decisions": NEW})
    assert answer.status_code == 400
    assert "saved version 2 while you were editing version 1" in answer.text
    assert source(console).version == 2 and NEW not in source(console).source


def test_lint_sits_beside_the_field_it_concerns_and_only_errors_block_sending(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(f"{url}/parts").text
    assert "SIPRI Arms Transfers Database" in beside(page, "section-1")
    assert "Council's own annual report" in beside(page, "section-2")
    assert beside(page, "key-decisions") == "" and beside(page, "appeal") == ""
    assert "<strong>2 error(s)</strong>" in page and 'href="#section-1">Section 1 text' in page
    assert "Sending is blocked" in page and f'href="{url}/campaign"' not in page
    fill(editor, url)
    data = fields(editor.get(f"{url}/parts").text)
    long_subject = "A subject far too long for any inbox list to show in full, " * 2
    editor.post(f"{url}/parts", data={**data, "subject": long_subject, "key-decisions": ""})
    page = editor.get(f"{url}/parts").text
    assert "no key decisions" in beside(page, "key-decisions")
    assert "Sending is blocked" in page
    data = fields(page)
    editor.post(f"{url}/parts", data={**data, "key-decisions": NEW})
    page = editor.get(f"{url}/parts").text
    assert beside(page, "subject").startswith("Warning:") and "inboxes will cut it" in page
    assert 'id="subject" name="subject"' in page and "aria-invalid" not in page
    assert f'href="{url.removeprefix("https://testserver")}/campaign">Send or schedule' in page


def test_the_live_preview_shows_unsaved_text_and_saves_nothing(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    data = fields(editor.get(f"{url}/parts").text)
    answer = editor.post(f"{url}/parts/preview", data={**data, "key-decisions": NEW})
    assert answer.status_code == 200
    frame = re.search(r'<iframe class="live"[^>]* sandbox srcdoc="([^"]*)"', answer.text)
    assert frame and NEW in unescape(frame.group(1))
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "SIPRI" in beside(answer.text, "section-1")  # findings swapped in out of band
    assert 'id="problems-section-1" class="field-problems" hx-swap-oob="true"' in answer.text
    broken = editor.post(f"{url}/parts/preview", data={**data, "section-1": "## Oops"})
    assert "The preview waits" in broken.text and "headings cannot" in beside(
        broken.text, "section-1"
    )
    assert source(console).version == 1  # nothing was saved
    with transaction(console.app.state.sessions) as session:
        assert not [e for e in audit.events(session) if e.action == "briefing.save"]
    assert editor.post(f"{url}/parts/preview", data={**data, "csrf_token": "x"}).status_code == 403


def test_viewers_cannot_edit_by_part(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    data = fields(editor.get(f"{url}/parts").text)
    viewer = signed_in(Role.VIEWER)
    token = form_token(viewer.get(url).text)
    assert "Edit by part" not in viewer.get(url).text
    assert viewer.get(f"{url}/parts").status_code == 403
    for path in ("parts", "parts/preview"):
        assert viewer.post(f"{url}/{path}", data={**data, "csrf_token": token}).status_code == 403
    assert source(console).version == 1


def test_the_briefing_page_shows_findings_beside_the_links_subject_and_text(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(url).text
    links = beside(page, "links")
    assert "SIPRI Arms Transfers Database" in links and "Council's own annual report" in links
    assert 'aria-describedby="problems-links"' in page
    assert beside(page, "subject") == "" and beside(page, "source") == ""
    fill(editor, url)
    token = form_token(editor.get(url).text)
    title = "European arms exports reach a ten-year high"
    long_subject = "European arms exports reach a ten-year high, and four governments report late"
    editor.post(f"{url}/title", data={"csrf_token": token, "title": title, "subject": long_subject})
    page = editor.get(url).text
    assert beside(page, "subject").startswith("Warning: the subject is")
    assert 'id="subject" name="subject"' in page and 'aria-describedby="problems-subject"' in page
    assert beside(page, "links") == ""
    assert f'href="{url.removeprefix("https://testserver")}/campaign">Send or schedule' in page
    markdown_text = source(console).source.replace("\n- ", "\n- See the [annex](#). ", 1)
    token = form_token(page)
    editor.post(url, data={"csrf_token": token, "source": markdown_text, "version": "3"})
    page = editor.get(url).text
    assert re.match(r"Error, line \d+: link 'annex' has the placeholder", beside(page, "links"))
    assert "Sending is blocked" in page


def test_the_markdown_editor_previews_its_unsaved_text(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(url).text
    assert 'hx-post="/admin/briefings/1/preview/live"' in page
    assert 'hx-trigger="input changed delay:600ms"' in page
    token = form_token(page)
    text = source(console).source.replace(FIRST, NEW, 1)
    answer = editor.post(f"{url}/preview/live", data={"csrf_token": token, "source": text})
    frame = re.search(r'<iframe class="live"[^>]* sandbox srcdoc="([^"]*)"', answer.text)
    assert answer.status_code == 200 and frame and NEW in unescape(frame.group(1))
    assert "hx-swap-oob" not in answer.text
    broken = text.replace("## 2.", "## 1.", 1)
    answer = editor.post(f"{url}/preview/live", data={"csrf_token": token, "source": broken})
    assert re.search(
        r"The preview waits [^<]*: line \d+: section 1 comes after section 1", answer.text
    )
    assert source(console).version == 1
    assert editor.post(f"{url}/preview/live", data={"source": text}).status_code == 403
    viewer = signed_in(Role.VIEWER)
    data = {"csrf_token": form_token(viewer.get(url).text), "source": text}
    assert viewer.post(f"{url}/preview/live", data=data).status_code == 403


def add_topics(console: Console, *names: str, hidden: str = "") -> None:
    with transaction(console.app.state.sessions) as session:
        for name in names:
            topics.create(session, name)
        if hidden:
            topics.create(session, hidden, public=False)


def test_section_topics_are_checkboxes_kept_when_unchanged_and_saved_when_ticked(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    add_topics(console, "Ukraine", "Air defence", hidden="Export licences")
    editor = signed_in(Role.EDITOR)
    url = upload(editor)  # the upload guesses section 1's topics
    page = editor.get(f"{url}/parts").text
    data = fields(page)
    assert data["section-1-topics"] == ["Air defence", "Ukraine"]
    assert "section-2-topics" not in data and data["section-2-topics-shown"] == "1"
    group = page.split('id="section-2-topics"', 1)[1].split("</fieldset>", 1)[0]
    assert "<legend>Section 2 topics</legend>" in group
    for name in ("Air defence", "Export licences", "Ukraine"):  # hidden topics too
        assert f'value="{name}">' in group, name
    answer = editor.post(f"{url}/parts", data=data)
    assert "Nothing changed." in answer.text and source(console).version == 1

    data["section-1-topics"] = ["Air defence"]  # Ukraine unticked
    data["section-2-topics"] = ["Export licences", "Ukraine"]  # two ticked
    answer = editor.post(f"{url}/parts", data=data)
    assert "Saved as version 2." in answer.text
    after = source(console)
    assert [s.topics for s in after.briefing.sections] == [
        ("Air defence",),
        ("Export licences", "Ukraine"),
    ]
    assert "\n\nTopics: Export licences, Ukraine\n\n" in after.source
    assert after.source == writer.dump(after.briefing)
    data = fields(editor.get(f"{url}/parts").text)
    assert data["section-2-topics"] == ["Export licences", "Ukraine"]

    del data["section-1-topics"]  # nothing ticked: the browser posts nothing for the group
    editor.post(f"{url}/parts", data=data)
    assert source(console).briefing.sections[0].topics == ()
    assert "Topics:" not in source(console).source.split("## 2.")[0]


def test_a_topic_the_organisation_lacks_stays_ticked_with_the_warning_beside_it(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    add_topics(console, "Ukraine", "Air defence")
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    with transaction(console.app.state.sessions) as session:
        current = store.current(session, 1)
        text = current.source.replace("Topics: Air defence, Ukraine", "Topics: Ukrane, ukraine")
        store.save(session, 1, text, "editor@example.org", "typed by hand")
    page = editor.get(f"{url}/parts").text
    data = fields(page)
    # The section's own spelling is kept for a topic it names; the misspelt one follows.
    assert data["section-1-topics"] == ["ukraine", "Ukrane"]
    assert "'Ukrane' is not one of the organisation's topics" in beside(page, "section-1-topics")
    assert beside(page, "section-1-topics").startswith("Warning:")
    assert 'aria-describedby="hint-section-1-topics problems-section-1-topics"' in page
    assert 'href="#section-1-topics">Section 1 topics</a>' in page  # the summary leads there
    answer = editor.post(f"{url}/parts", data=data)
    assert "Nothing changed." in answer.text  # kept as typed, order and spelling
    data["section-1-topics"] = ["ukraine"]  # the misspelt one unticked
    live = editor.post(f"{url}/parts/preview", data=data)
    assert beside(live.text, "section-1-topics") == ""
    assert source(console).version == 2  # the live preview saved nothing
    editor.post(f"{url}/parts", data=data)
    assert source(console).briefing.sections[0].topics == ("ukraine",)
