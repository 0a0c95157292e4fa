"""The console's pages do what the command line does, and the audit trail says who did it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.database import transaction
from newsletter.staff.models import AuditEvent, Role
from subscribers import consent, lists, people
from subscribers.models import Kind, Subscriber
from tests.cli import run_cli
from tests.console.conftest import Console, form_token

STAFF = consent.Context(form="test")


@pytest.fixture
def readers(console: Console) -> dict[str, int]:
    with transaction(console.app.state.sessions) as session:
        ukraine, nuclear = lists.create(session, "Ukraine"), lists.create(session, "Nuclear")
        ids = {}
        for email, name in (("zoë@example.org", "Zoë Brontë"), ("sam@example.org", "Sam Ng")):
            person = people.add(session, email, STAFF, name=name, topics=[ukraine.name])
            ids[email] = person.id
        del nuclear
    return ids


def _audit(console: Console) -> list[tuple[str, str, str]]:
    with transaction(console.app.state.sessions) as session:
        rows = session.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.target))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_find_a_subscriber_and_change_their_topics(
    console: Console, signed_in: Callable[[Role], TestClient], readers: dict[str, int]
) -> None:
    editor = signed_in(Role.EDITOR)
    found = editor.get("/admin/subscribers", params={"q": "zoë"})
    assert "zoë@example.org" in found.text and "sam@example.org" not in found.text
    partial = editor.get("/admin/subscribers", params={"q": "ng"}, headers={"HX-Request": "true"})
    assert "sam@example.org" in partial.text and "<html" not in partial.text

    pid = readers["sam@example.org"]
    page = editor.get(f"/admin/subscribers/{pid}")
    with transaction(console.app.state.sessions) as session:
        nuclear = lists.get(session, "Nuclear").id
    answer = editor.post(
        f"/admin/subscribers/{pid}",
        data={"csrf_token": form_token(page.text), "name": "Sam Ng", "lists": [str(nuclear)]},
    )
    assert answer.status_code == 200 and "Saved." in answer.text
    with transaction(console.app.state.sessions) as session:
        person = people.get(session, pid)
        assert [m.name for m in people.subscribed_lists(session, person)] == ["Nuclear"]
        assert consent.history(session, pid)[-1].form == "console:edit"
    assert ("editor@example.org", "subscriber.edit", "sam@example.org") in _audit(console)


def test_leaving_someone_on_topics_only_says_no_briefing_reaches_them(
    console: Console, signed_in: Callable[[Role], TestClient], readers: dict[str, int]
) -> None:
    pid = readers["sam@example.org"]
    editor = signed_in(Role.EDITOR)
    with transaction(console.app.state.sessions) as session:
        topic = lists.create(session, "Arms control", kind=Kind.TOPIC).id
        nuclear = lists.get(session, "Nuclear").id
    page = editor.get(f"/admin/subscribers/{pid}")
    only_topic = editor.post(
        f"/admin/subscribers/{pid}",
        data={"csrf_token": form_token(page.text), "lists": [str(topic)]},
    )
    assert "On no list, so no briefing reaches them" in only_topic.text
    page = editor.get(f"/admin/subscribers/{pid}")
    with_list = editor.post(
        f"/admin/subscribers/{pid}",
        data={"csrf_token": form_token(page.text), "lists": [str(topic), str(nuclear)]},
    )
    assert "Saved." in with_list.text and "On no list" not in with_list.text


def test_only_an_owner_erases_and_must_type_the_address(
    console: Console, signed_in: Callable[[Role], TestClient], readers: dict[str, int]
) -> None:
    pid = readers["zoë@example.org"]
    editor = signed_in(Role.EDITOR)
    page = editor.get(f"/admin/subscribers/{pid}")
    assert "Erase for good" not in page.text
    refused = editor.post(
        f"/admin/subscribers/{pid}/erase",
        data={"csrf_token": form_token(page.text), "typed": "zoë@example.org"},
    )
    assert refused.status_code == 403

    owner = signed_in(Role.OWNER)
    page = owner.get(f"/admin/subscribers/{pid}")
    token = form_token(page.text)
    kept = owner.post(f"/admin/subscribers/{pid}/erase", data={"csrf_token": token, "typed": "x"})
    assert "Not erased" in kept.text
    erased = owner.post(
        f"/admin/subscribers/{pid}/erase",
        data={"csrf_token": token, "typed": "ZOË@example.org"},
    )
    assert erased.status_code == 200 and f"Erased subscriber #{pid}" in erased.text
    with transaction(console.app.state.sessions) as session:
        emails = set(session.scalars(select(Subscriber.email)))
    assert emails == {"sam@example.org"}
    trail = _audit(console)
    assert ("owner@example.org", "subscriber.erase", f"subscriber #{pid}") in trail
    assert not any("zoë" in target for _, _, target in trail)  # the trail keeps no erased address


def test_owner_exports_and_the_trail_records_it(
    console: Console, signed_in: Callable[[Role], TestClient], readers: dict[str, int]
) -> None:
    owner = signed_in(Role.OWNER)
    exported = owner.get("/admin/subscribers/export.csv")
    assert exported.status_code == 200 and "sam@example.org" in exported.text
    assert exported.headers["cache-control"] == "no-store"
    assert any(a == "subscribers.export" for _, a, _ in _audit(console))
    audit = owner.get("/admin/audit", params={"action": "subscribers.export"})
    assert "subscribers.export" in audit.text and "owner@example.org" in audit.text


def test_home_and_gifts_pages_answer_on_an_empty_database(
    signed_in: Callable[[Role], TestClient],
) -> None:
    viewer = signed_in(Role.VIEWER)
    home = viewer.get("/admin")
    assert home.status_code == 200 and "No campaigns yet" in home.text
    assert viewer.get("/admin/gifts").status_code == 200
    assert viewer.get("/admin/gifts/999").status_code == 404


def test_staff_commands_make_the_first_owner_and_keep_one(
    console: Console,
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        run_cli(["staff", "add", "boss@example.org", "--role", "owner"], monkeypatch, cli_env) == 0
    )
    link = capsys.readouterr().out.split("https://news.example.org")[1].split()[0]
    assert link.startswith("/admin/password/")
    client = console.client()
    page = client.get(link)
    assert page.status_code == 200 and "boss@example.org" in page.text
    weak = client.post(
        link,
        data={
            "csrf_token": form_token(page.text),
            "password": "password1234",
            "repeat": "password1234",
        },
    )
    assert weak.status_code == 400 and "attackers try first" in weak.text
    good = "lantern orchard copper nine"
    done = client.post(
        link, data={"csrf_token": form_token(page.text), "password": good, "repeat": good}
    )
    assert done.status_code == 200 and "Please sign in" in done.text
    assert client.get(link).status_code == 400  # the link worked once

    assert run_cli(["staff", "role", "boss@example.org", "editor"], monkeypatch, cli_env) == 1
    assert "last owner" in capsys.readouterr().err
    assert run_cli(["staff", "list"], monkeypatch, cli_env) == 0
    assert "boss@example.org" in capsys.readouterr().out
    actors = {actor for actor, action, _ in _audit(console) if action == "staff.add"}
    assert all(actor.startswith("cli:") for actor in actors) and actors


def test_an_owner_adds_staff_and_sees_settings_without_secrets(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    owner = signed_in(Role.OWNER)
    page = owner.get("/admin/staff")
    added = owner.post(
        "/admin/staff",
        data={"csrf_token": form_token(page.text), "email": "new@example.org", "role": "editor"},
    )
    link = added.text.split('id="welcome-link">')[1].split("<")[0]
    assert link.startswith("https://news.example.org/admin/password/")
    assert ("owner@example.org", "staff.add", "new@example.org") in _audit(console)
    shown = owner.get("/admin/settings").text
    assert "NEWSLETTER_SECRET_KEY" in shown and "test-secret-key" not in shown
    assert "NEWSLETTER_ORGANISATION_NAME" in shown


def test_the_command_line_writes_the_same_trail(
    console: Console, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(["subscribers", "add", "dee@example.org"], monkeypatch, cli_env) == 0
    out = cli_env / "people.csv"
    assert run_cli(["subscribers", "export", "-o", str(out)], monkeypatch, cli_env) == 0
    assert run_cli(["subscribers", "erase", "dee@example.org", "--yes"], monkeypatch, cli_env) == 0
    trail = [(actor, action, target) for actor, action, target in _audit(console)]
    actions = {action for actor, action, _ in trail if actor.startswith("cli:")}
    assert {"subscribers.export", "subscriber.erase"} <= actions
    assert not any("dee@" in target for _, _, target in trail)
