"""The audience as a reader and a member of staff meet it: real web app, real CLI.

A web sign-up with no topic and one with only a topic both receive the next send to
"All briefings"; the preview's count is what is sent; ``--topic`` narrows a send and
the preview says so; the preference centre never takes anyone off the list and offers
only the languages the organisation has.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from newsletter import links, wiring
from newsletter.cli.app import app as cli_app
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.mail.transports.memory import MemoryTransport
from newsletter.web import services
from newsletter.web.app import create_app
from subscribers import consent, people, topics
from tests.campaigns.conftest import CLEAN_SOURCE

BASE = "https://news.example.org"


@pytest.fixture
def site(
    settings: Settings, cli_env: Path, db_url: str
) -> Iterator[tuple[TestClient, MemoryTransport]]:
    """The web app and the CLI on one database (``cli_env`` sets the CLI's environment)."""
    settings = settings.model_copy(update={"database_url": db_url})
    web = create_app(settings)
    confirmations = MemoryTransport()
    web.dependency_overrides[services.outbox] = lambda: services.Outbox(
        lambda: confirmations, lambda: wiring.signer(settings)
    )
    with transaction(web.state.sessions) as s:
        topics.create(s, "Ukraine")
        topics.create(s, "Arms control")
    with TestClient(web, base_url="https://testserver") as client:
        yield client, confirmations
    web.state.engine.dispose()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli_app, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the form has no CSRF field"
    return match.group(1)


def sign_up(
    client: TestClient, confirmations: MemoryTransport, address: str, chosen: list[str]
) -> None:
    """Subscribe on /subscribe, then click the link in the confirmation mail."""
    form = {"csrf_token": _csrf(client.get("/subscribe").text), "email": address, "topics": chosen}
    assert client.post("/subscribe", data=form, follow_redirects=False).status_code == 303
    (sent,) = confirmations.to(address)
    message = email.message_from_bytes(sent.message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    url = re.search(rf"{BASE}(/confirm/\S+)", str(body.get_content()))
    assert url is not None
    page = client.post(url.group(1))
    assert page.status_code == 200 and address in page.text


def recipients(folder: Path) -> list[str]:
    return sorted(str(m["To"]) for m in mailbox.Maildir(folder / "outbox", create=False))


def briefing(folder: Path) -> str:
    path = folder / "112.md"
    path.write_text(CLEAN_SOURCE, encoding="utf-8")
    return str(path)


def test_web_sign_ups_with_and_without_topics_all_get_the_next_send(
    site: tuple[TestClient, MemoryTransport], cli_env: Path
) -> None:
    client, confirmations = site
    sign_up(client, confirmations, "none@example.org", [])
    sign_up(client, confirmations, "ukraine@example.org", ["ukraine"])
    (mail,) = confirmations.to("ukraine@example.org")
    assert b"topics you chose: Ukraine" in mail.message
    form = {"csrf_token": _csrf(client.get("/subscribe").text), "email": "later@example.org"}
    client.post("/subscribe", data=form)  # never confirms: receives nothing

    campaign = ok("campaign", "create", briefing(cli_env), "--list", "All briefings", "-q").strip()
    preview = ok("campaign", "preview", campaign, "--out", str(cli_env / "pv"))
    assert "Readers who will receive it now: 2 (everyone on All briefings)" in preview
    ok("campaign", "send", campaign)
    assert recipients(cli_env) == ["none@example.org", "ukraine@example.org"]


def test_topic_narrows_a_send_only_when_asked_and_the_preview_says_so(
    site: tuple[TestClient, MemoryTransport], cli_env: Path
) -> None:
    client, confirmations = site
    for address, chosen in [
        ("a@example.org", []),
        ("b@example.org", ["ukraine"]),
        ("c@example.org", ["ukraine", "arms-control"]),
        ("d@example.org", ["arms-control"]),
    ]:
        sign_up(client, confirmations, address, chosen)
    ok("subscribers", "unsubscribe", "c@example.org")

    narrowed = ok(
        "campaign",
        "create",
        briefing(cli_env),
        "--list",
        "All briefings",
        "--topic",
        "Ukraine",
        "-q",
    ).strip()
    preview = " ".join(ok("campaign", "preview", narrowed, "--out", str(cli_env / "pv")).split())
    assert (
        "Readers who will receive it now: 1 (narrowed by --topic: only readers of All briefings "
        "who chose Ukraine; the others on All briefings get nothing)"
    ) in preview
    ok("campaign", "send", narrowed)
    assert recipients(cli_env) == ["b@example.org"]

    wrong = run("campaign", "create", briefing(cli_env), "--list", "Ukraine")
    assert wrong.exit_code != 0 and "is a topic, not a list" in str(wrong.exception)


def test_the_preference_centre_changes_topics_never_the_list(
    site: tuple[TestClient, MemoryTransport], settings: Settings
) -> None:
    client, confirmations = site
    sign_up(client, confirmations, "reader@example.org", ["ukraine"])
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        person = people.find(s, "reader@example.org")
        assert person is not None
        sid = person.id
        topics.create(s, "Donors", public=False)
        people.join(s, person, topics.get(s, "Donors"))
    path = links.preferences_url(settings, sid).removeprefix(BASE)
    page = client.get(path)
    assert "You receive: All briefings." in page.text and "Donors" not in page.text
    assert "Donors" not in client.get("/subscribe").text
    saved = client.post(
        path, data={"csrf_token": _csrf(page.text), "action": "save", "name": "R", "topics": []}
    )
    assert saved.status_code == 200 and "preferences are saved" in saved.text
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        person = people.get(s, sid)
        on_lists, following = people.memberships(s, person)
        assert [m.name for m in on_lists] == ["All briefings"]
        assert [m.name for m in following] == ["Donors"]  # hidden: the form could not mean it


def test_the_language_menu_offers_only_the_organisations_languages(
    settings: Settings, db_url: str
) -> None:
    settings = settings.model_copy(update={"database_url": db_url, "languages": "en, fr"})
    web = create_app(settings)
    try:
        with transaction(web.state.sessions) as s:
            sid = people.add(s, "lang@example.org", consent.Context(form="test")).id
        path = links.preferences_url(settings, sid).removeprefix(BASE)
        with TestClient(web, base_url="https://testserver") as client:
            page = client.get(path)
            options = re.findall(r'<option value="([^"]+)"', page.text)
            assert options == ["en", "fr"]
            form = {"csrf_token": _csrf(page.text), "action": "save", "language": "de"}
            client.post(path, data=form)  # not offered: ignored
            with transaction(web.state.sessions) as s:
                assert people.get(s, sid).language == "en"
            client.post(path, data={**form, "language": "fr"})
            with transaction(web.state.sessions) as s:
                assert people.get(s, sid).language == "fr"
    finally:
        web.state.engine.dispose()
