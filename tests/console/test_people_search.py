"""The console's subscriber search: accents and case aside, it follows renames made in the
console and forgets people erased there."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.database import transaction
from newsletter.staff.models import Role
from subscribers import consent, people
from tests.console.conftest import Console, form_token

STAFF = consent.Context(form="test")


def _rows(client: TestClient, query: str) -> str:
    """The results fragment htmx asks for as staff type."""
    answer = client.get("/admin/subscribers", params={"q": query}, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    return answer.text


def test_search_ignores_accents_and_follows_edits_and_erasure(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    with transaction(console.app.state.sessions) as session:
        pid = people.add(session, "cd@example.org", STAFF, name="Chloé Dubois").id
        people.add(session, "other@example.org", STAFF, name="Olga Other")
    owner = signed_in(Role.OWNER)
    page = owner.get("/admin/subscribers", params={"q": "chloe"})
    assert "cd@example.org" in page.text and "other@example.org" not in page.text
    assert "Accents and capitals do not matter" in page.text
    assert "cd@example.org" in _rows(owner, "CHLOÉ DUB")

    form = owner.get(f"/admin/subscribers/{pid}")
    saved = owner.post(
        f"/admin/subscribers/{pid}",
        data={"csrf_token": form_token(form.text), "name": "Chloé Lefèvre"},
    )
    assert "Saved." in saved.text
    assert "cd@example.org" in _rows(owner, "lefevre")
    assert "Nobody matches." in _rows(owner, "dubois")

    form = owner.get(f"/admin/subscribers/{pid}")
    erased = owner.post(
        f"/admin/subscribers/{pid}/erase",
        data={"csrf_token": form_token(form.text), "typed": "cd@example.org"},
    )
    assert f"Erased subscriber #{pid}" in erased.text
    assert "Nobody matches." in _rows(owner, "lefevre")
    assert "Nobody matches." in _rows(owner, "cd@")
