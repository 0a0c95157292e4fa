"""The subscribe form and the preference centre refuse what the message builder would refuse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from newsletter import links, wiring
from newsletter.cli.app import app
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.mail.message import check_address
from newsletter.mail.transports.memory import MemoryTransport
from newsletter.readers import address
from newsletter.web import services
from newsletter.web.app import create_app
from subscribers import consent, people
from subscribers.errors import InvalidAddress


@pytest.fixture
def site(settings: Settings, db_url: str) -> Iterator[tuple[TestClient, MemoryTransport, Settings]]:
    settings = settings.model_copy(update={"database_url": db_url})
    app = create_app(settings)
    outbox = MemoryTransport()
    app.dependency_overrides[services.outbox] = lambda: services.Outbox(
        lambda: outbox, lambda: wiring.signer(settings)
    )
    with TestClient(app, base_url="https://testserver") as client:
        yield client, outbox, settings
    app.state.engine.dispose()


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def _subscribe(client: TestClient, email: str, name: str = "Ann") -> tuple[int, str]:
    form = {"csrf_token": _csrf(client.get("/subscribe").text), "email": email, "name": name}
    answer = client.post("/subscribe", data=form, follow_redirects=False)
    return answer.status_code, answer.text


def _stored(client: TestClient, email: str) -> bool:
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        return people.find(s, email) is not None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Ann\r\nBcc: victim@example.org", "line breaks or control characters"),
        ("Ann\x00", "line breaks or control characters"),
        ("A" * 201, "at most 200 characters"),
    ],
)
def test_a_name_that_could_not_be_mailed_is_refused_at_the_form(
    site: tuple[TestClient, MemoryTransport, Settings], name: str, why: str
) -> None:
    client, outbox, _ = site
    status, page = _subscribe(client, "reader@example.org", name)
    assert status == 400 and why in page
    assert not _stored(client, "reader@example.org") and not outbox.sent


def test_a_non_ascii_local_part_is_refused_clearly(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, outbox, _ = site
    status, page = _subscribe(client, "ünï@exämple.org")
    assert status == 400 and "non-Latin letters before the @" in page
    assert not _stored(client, "ünï@exämple.org") and not outbox.sent


def test_an_international_domain_is_accepted_and_mailed(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, outbox, _ = site
    status, _ = _subscribe(client, "reader@exämple.org", "Zoë")
    assert status == 303
    [sent] = outbox.sent
    assert sent.recipient == "reader@xn--exmple-cua.org"


def test_the_preference_centre_refuses_a_name_with_a_line_break(
    site: tuple[TestClient, MemoryTransport, Settings],
) -> None:
    client, _, settings = site
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        sid = people.add(s, "reader@example.org", consent.Context(form="test"), name="Ann").id
    path = links.preferences_url(settings, sid).removeprefix(settings.public_base_url)
    form = {"csrf_token": _csrf(client.get(path).text), "action": "save", "name": "Ann\nEve"}
    answer = client.post(path, data=form)
    assert answer.status_code == 400 and "line breaks" in answer.text
    with transaction(client.app.state.sessions) as s:  # type: ignore[attr-defined]
        assert people.get(s, sid).name == "Ann"


@pytest.mark.parametrize(
    "text",
    ["a@example.org", "a.b+c@example.org", "x@exämple.org", "ünï@example.org", '"a b"@example.org'],
)
def test_the_door_and_the_message_builder_agree(text: str) -> None:
    try:
        door = address(text).email
    except InvalidAddress:
        with pytest.raises(InvalidAddress):
            check_address(text)
        return
    check_address(door)


def test_staff_adding_a_person_meet_the_same_door(cli_env: Path) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["subscribers", "add", "a@example.org", "--name", "Ann\nEve"])
    assert refused.exit_code == 1 and "line breaks" in str(refused.exception)
    refused = runner.invoke(app, ["subscribers", "add", "ünï@exämple.org"])
    assert refused.exit_code == 1 and "non-Latin letters" in str(refused.exception)
    assert (
        runner.invoke(app, ["subscribers", "add", "a@example.org", "--name", "Ann"]).exit_code == 0
    )
