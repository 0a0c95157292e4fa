"""The briefing preview as a reader's copy: of a reader following the ticked topics, or of a
real reader looked up by address (only read), and test copies of such a copy."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message
from html import unescape

from fastapi.testclient import TestClient

from newsletter.briefing import store
from newsletter.database import transaction
from newsletter.staff import audit
from newsletter.staff.models import Role
from subscribers import consent, people, topics
from tests.console.conftest import Console, form_token
from tests.console.flow import outbox
from tests.console.test_briefings import upload

FIRST = "Air defence leads the rise"  # section 1: topic Air defence (guessed at upload)
SECOND = "Reports arrive later every year"  # section 2: topic Transparency (typed in)


def setting_up(console: Console, signed_in: Callable[[Role], TestClient]) -> tuple[str, TestClient]:
    """Three topics (one hidden), a reader who follows Transparency, and the uploaded paper."""
    with transaction(console.app.state.sessions) as session:
        topics.create(session, "Air defence")
        topics.create(session, "Transparency")
        topics.create(session, "Climate", public=False)
        context = consent.Context(form="test")
        people.add(session, "ana@example.net", context, name="Ana", topics=["Transparency"])
        people.add(session, "ben@example.net", context, name="Ben")
    editor = signed_in(Role.EDITOR)
    url = upload(editor)
    with transaction(console.app.state.sessions) as session:
        text = store.current(session, 1).source.replace(
            f"## 2. {SECOND}\n", f"## 2. {SECOND}\n\nTopics: Transparency\n", 1
        )
        assert store.save(session, 1, text, "editor@example.org", "topics") == 2
    return url, editor


def plain_text(page: str) -> str:
    match = re.search(
        r'<pre class="source" tabindex="0" aria-label="Plain text part">(.*?)</pre>', page, re.S
    )
    assert match, "no plain text part"
    return unescape(match.group(1))


def frame_urls(page: str) -> list[str]:
    return [
        unescape(u)
        for u in re.findall(r'<iframe class="(?:desktop|phone)"[^>]*src="([^"]+digest[^"]*)"', page)
    ]


def note(page: str) -> str:
    match = re.search(r'<p id="copy-note" role="status"[^>]*>(.*?)</p>', page, re.S)
    return unescape(match.group(1)) if match else ""


def body(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else ""


def second_first(text: str) -> bool:
    return "Your topics" in text and text.index(SECOND) < text.index(FIRST)


def test_a_viewer_previews_the_copy_of_a_reader_with_the_ticked_topics(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    url, _editor = setting_up(console, signed_in)
    viewer = signed_in(Role.VIEWER)
    page = viewer.get(f"{url}/preview").text
    for name in ("Air defence", "Climate", "Transparency"):  # hidden topics too
        assert f'name="topic" value="{name}">' in page, name
    assert "Your topics" not in plain_text(page) and note(page) == ""
    assert "Your topics" not in viewer.get(frame_urls(page)[0]).text

    page = viewer.get(f"{url}/preview", params={"topic": ["Transparency"]}).text
    assert note(page) == (
        "The copy of a reader who follows Transparency: section 2 first, under “Your topics”."
    )
    assert second_first(plain_text(page))
    assert re.search(r'id="copy-topic-\d" name="topic" value="Transparency" checked', page)
    urls = frame_urls(page)
    assert len(urls) == 2 and all(
        u.endswith("/preview/digest.html?topic=Transparency") for u in urls
    )
    frame = viewer.get(urls[0])
    assert frame.headers["content-security-policy"].startswith("sandbox;")
    assert second_first(re.sub(r"<[^>]+>", " ", frame.text))

    page = viewer.get(f"{url}/preview", params={"topic": ["Climate"]}).text
    assert "no section is on them, so this is the paper's order" in note(page)
    assert "Your topics" not in plain_text(page)
    with transaction(console.app.state.sessions) as session:
        assert store.current(session, 1).version == 2  # nothing stored
        done = [e.action for e in audit.events(session) if e.actor == "viewer@example.org"]
        assert not [action for action in done if action.startswith("briefing.")]


def test_the_preview_as_a_reader_uses_the_topics_they_chose(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    url, _editor = setting_up(console, signed_in)
    viewer = signed_in(Role.VIEWER)
    page = viewer.get(f"{url}/preview", params={"reader": " ANA@example.net "}).text
    assert note(page) == (
        "ana@example.net's copy (follows Transparency): section 2 first, under “Your topics”."
    )
    assert second_first(plain_text(page))
    urls = frame_urls(page)
    assert urls[0].endswith("digest.html?reader=ANA%40example.net")
    assert second_first(re.sub(r"<[^>]+>", " ", viewer.get(urls[0]).text))
    assert 'id="reader" name="reader" value="ANA@example.net"' in page

    page = viewer.get(f"{url}/preview", params={"reader": "ben@example.net"}).text
    assert (
        note(page) == "ben@example.net's copy: they follow no topic, so this is the paper's order."
    )
    for unknown in ("nobody@example.net", "not an address"):
        page = viewer.get(
            f"{url}/preview", params={"reader": unknown, "topic": "Transparency"}
        ).text
        assert note(page) == (
            f"Nobody with the address '{unknown}' is on the list: this is the paper's order."
        )
        assert 'class="error"' in page.split('id="copy-note"')[1][:40]
        assert "Your topics" not in plain_text(page)
    with transaction(console.app.state.sessions) as session:
        ana = people.find(session, "ana@example.net")
        assert ana is not None and [t.name for t in people.subscribed_lists(session, ana)] == [
            "Transparency"
        ]


def test_a_test_copy_may_be_the_copy_of_a_reader_with_topics(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    url, editor = setting_up(console, signed_in)
    page = editor.get(f"{url}/preview", params={"topic": "Transparency"}).text
    assert re.search(r'id="test-topic-\d" name="topic" value="Transparency" checked', page)
    token = form_token(page)
    answer = editor.post(
        f"{url}/test", data={"csrf_token": token, "to": "a@example.org", "topic": ["Transparency"]}
    )
    assert "Test copy sent to a@example.org as a reader who follows Transparency." in answer.text
    assert note(answer.text).startswith("The copy of a reader who follows Transparency")
    editor.post(f"{url}/test", data={"csrf_token": token, "to": "b@example.org"})
    sent = {m["To"]: m for m in outbox(console.app)}
    parts = {to: {p.get_content_type(): body(p) for p in m.walk()} for to, m in sent.items()}
    assert second_first(parts["a@example.org"]["text/plain"])
    assert "Your topics" in parts["a@example.org"]["text/html"]
    assert "Your topics" not in parts["b@example.org"]["text/plain"]
    with transaction(console.app.state.sessions) as session:
        details = [e.detail for e in audit.events(session) if e.action == "briefing.test-send"]
    assert sorted(details) == [
        "a@example.org as a reader who follows Transparency",
        "b@example.org",
    ]
