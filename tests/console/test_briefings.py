"""Briefings in the console: upload a Word paper, fill its links, edit, preview, test send."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.database import transaction
from newsletter.staff import audit
from newsletter.staff.models import Role
from subscribers import topics
from subscribers.models import MailingList
from tests.console.conftest import Console, form_token, sign_in
from tests.console.flow import outbox
from tests.console.papers import PLACEHOLDERS, REAL, docx_with_placeholders


def upload(client: TestClient) -> str:
    """Upload the paper; returns the briefing page's URL."""
    token = form_token(client.get("/admin/briefings").text)
    answer = client.post(
        "/admin/briefings",
        data={"csrf_token": token},
        files={"file": ("brief.docx", docx_with_placeholders())},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].split("?")[0]


def fill(client: TestClient, page_url: str) -> None:
    page = client.get(page_url).text
    data = {"csrf_token": form_token(page)}
    for index, text in enumerate(PLACEHOLDERS):
        data[f"url-{index}"] = REAL[text]
    answer = client.post(f"{page_url}/links", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def test_an_uploaded_paper_shows_its_links_to_fill_and_cannot_be_sent(
    signed_in: Callable[[Role], TestClient],
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(url)
    assert "European arms exports reach a ten-year high" in page.text
    assert "2 error(s) (these block sending)" in page.text
    for text in PLACEHOLDERS:
        assert text.replace("'", "&#39;") in page.text
    assert "according to the SIPRI Arms Transfers Database." in page.text  # its sentence
    assert "Sending is blocked" in page.text
    assert f'href="{url}/campaign"' not in page.text


def test_filling_the_links_keeps_a_new_version_and_lint_turns_clean(
    signed_in: Callable[[Role], TestClient],
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    fill(editor, url)
    page = editor.get(url).text
    assert "Lint clean" in page
    assert "Every link has a real target" in page
    assert "Version 2, saved by editor@example.org" in page
    assert "links filled" in page and "uploaded brief.docx" in page
    assert f'href="{url}/campaign"' in page


def test_a_bad_address_fills_nothing(signed_in: Callable[[Role], TestClient]) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    token = form_token(editor.get(url).text)
    answer = editor.post(f"{url}/links", data={"csrf_token": token, "url-0": "www.sipri.org"})
    assert answer.status_code == 400
    assert "&#39;www.sipri.org&#39; is not a full https://" in answer.text
    assert "row 2" not in answer.text
    assert "Version 1," in answer.text


def test_an_edit_is_saved_as_a_version_and_a_broken_one_is_refused(
    signed_in: Callable[[Role], TestClient],
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(url).text
    source = re.search(r'<textarea id="source"[^>]*>(.*?)</textarea>', page, re.S)
    assert source
    text = source.group(1).replace("&#39;", "'").replace("&amp;", "&").replace("&quot;", '"')
    text = text.replace("&lt;", "<").replace("&gt;", ">")
    edited = text.replace(
        "title: European arms exports reach a ten-year high",
        "title: European arms exports at a ten-year high",
    )
    answer = editor.post(url, data={"csrf_token": form_token(page), "source": edited})
    assert "Saved as version 2." in answer.text
    assert "<h1>European arms exports at a ten-year high</h1>" in answer.text
    broken = editor.post(url, data={"csrf_token": form_token(page), "source": "no front matter"})
    assert broken.status_code == 400
    assert 'role="alert"' in broken.text
    assert "no front matter" in broken.text  # the text typed is not lost
    assert "Version 2," in editor.get(url).text


def test_the_title_and_subject_are_plain_fields(signed_in: Callable[[Role], TestClient]) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    token = form_token(editor.get(url).text)
    data = {"csrf_token": token, "title": "Arms exports at a high", "subject": "Exports: a high"}
    page = editor.post(f"{url}/title", data=data).text
    assert "Saved as version 2." in page
    assert "<h1>Arms exports at a high</h1>" in page
    assert "Subject: <strong>Exports: a high</strong>" in page
    assert "\nsubject: &#39;Exports: a high&#39;\n" in page  # the Markdown says the same
    empty = editor.post(f"{url}/title", data={**data, "title": " "})
    assert empty.status_code == 400 and "a briefing needs a title" in empty.text


def test_an_edit_that_started_before_someone_elses_save_is_refused(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    console.add_staff("second@example.org", Role.EDITOR)
    second = console.client()
    assert sign_in(second, "second@example.org") == 303
    stale = second.get(url).text  # the second editor opens version 1 ...
    token = form_token(editor.get(url).text)
    editor.post(f"{url}/title", data={"csrf_token": token, "title": "New", "version": "1"})
    data = {"csrf_token": form_token(stale), "version": "1", "url-0": "https://example.org/a"}
    answer = second.post(f"{url}/links", data=data)  # ... and fills a link after the save
    assert answer.status_code == 400
    assert "editor@example.org saved version 2 while you were editing version 1" in answer.text
    assert "Version 2, saved by editor@example.org" in second.get(url).text


def test_an_upload_of_the_wrong_kind_is_refused_in_one_line(
    signed_in: Callable[[Role], TestClient],
) -> None:
    editor = signed_in(Role.EDITOR)
    token = form_token(editor.get("/admin/briefings").text)
    answer = editor.post(
        "/admin/briefings", data={"csrf_token": token}, files={"file": ("list.csv", b"a,b\n")}
    )
    assert answer.status_code == 400
    assert "list.csv: upload a .docx, .pdf, .txt, .md or .html file" in answer.text
    broken = editor.post(
        "/admin/briefings",
        data={"csrf_token": token},
        files={"file": ("brief.docx", b"PK\x03\x04 not really a Word file")},
    )
    assert broken.status_code == 400
    alert = broken.text.split('role="alert">')[1].split("</p>")[0]
    assert alert.startswith("brief.docx: ") and "/tmp" not in alert and "paper.docx" not in alert  # noqa: S108


def test_the_preview_shows_the_email_in_sandboxed_frames_with_headers_and_size(
    signed_in: Callable[[Role], TestClient],
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(f"{url}/preview").text
    assert page.count("<iframe") == 3 and page.count("sandbox") >= 3
    assert "Subject: " in page and "List-Unsubscribe" in page
    assert "clipping point of about 102 KB" in page and "<strong>fits</strong>" in page
    assert "Exports rose by a fifth" in page  # the plain text part
    for target in ("phone", "desktop", "plain", "test-send", "archive"):  # a long page at 375 px
        assert f'href="#{target}"' in page and f'<h2 id="{target}">' in page
    frame = editor.get(f"{url}/preview/digest.html")
    assert frame.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert "Exports rose by a fifth" in frame.text
    web = editor.get(f"{url}/preview/web.html")
    assert "sandbox" in web.headers["content-security-policy"]
    assert "European arms exports" in web.text


def test_a_test_copy_reaches_each_staff_address(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    token = form_token(editor.get(f"{url}/preview").text)
    answer = editor.post(
        f"{url}/test", data={"csrf_token": token, "to": "a@example.org, b@example.org"}
    )
    assert "Test copy sent to a@example.org, b@example.org." in answer.text
    sent = outbox(console.app)
    assert sorted(m["To"] for m in sent) == ["a@example.org", "b@example.org"]
    bad = editor.post(f"{url}/test", data={"csrf_token": token, "to": "c@example.org, nope"})
    assert "Not sent:" in bad.text
    assert len(outbox(console.app)) == 2  # a typo in one address sends none


def test_a_viewer_reads_but_changes_nothing(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    viewer = signed_in(Role.VIEWER)
    page = viewer.get(url)
    assert page.status_code == 200
    assert "<textarea" not in page.text and "Fill in these links" not in page.text
    assert "Send or schedule" not in page.text
    assert viewer.get(f"{url}/preview").status_code == 200
    token = form_token(page.text)
    forged = viewer.post(f"{url}/test", data={"csrf_token": token, "to": "v@example.org"})
    assert forged.status_code == 403
    assert viewer.post(url, data={"csrf_token": token, "source": "x"}).status_code == 403
    assert outbox(console.app) == []


def test_every_step_is_in_the_audit_trail(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    fill(editor, url)
    token = form_token(editor.get(f"{url}/preview").text)
    editor.post(f"{url}/test", data={"csrf_token": token, "to": "a@example.org"})
    with transaction(console.app.state.sessions) as session:
        found = {(e.action, e.actor) for e in audit.events(session)}
    for action in ("briefing.upload", "briefing.links", "briefing.test-send"):
        assert (action, "editor@example.org") in found, action


def test_an_upload_gets_section_topics_guessed_and_checked(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    with transaction(console.app.state.sessions) as session:
        ukraine = topics.create(session, "Ukraine")
        topics.create(session, "Air defence")
        topics.create(session, "Climate")
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    page = editor.get(url).text
    assert "## 1. Air defence leads the rise\n\nTopics: Air defence, Ukraine\n" in html.unescape(
        page
    )
    assert "is not one of the organisation" not in page

    with transaction(console.app.state.sessions) as session:
        session.get(MailingList, ukraine.id).archived = True  # type: ignore[union-attr]
    page = html.unescape(editor.get(url).text)
    assert "section 1: 'Ukraine' is not one of the organisation's topics" in page
