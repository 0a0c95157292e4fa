"""Who may reach what: every console route, enumerated from the app itself."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from newsletter.staff.models import Role
from tests.console.conftest import Console, form_token

# Reachable without signing in: the sign-in steps themselves and the console's static files.
OPEN = {
    "/admin/sign-in",
    "/admin/sign-in/code",
    "/admin/password/{token}",
    "/admin/static/{name}",
    "/admin/brand.css",
    "/admin/forgot",
}
# Writes every signed-in member may make about their own account.
OWN_ACCOUNT = {
    "/admin/sign-out",
    "/admin/sign-out-everywhere",
    "/admin/account/second-factor",
    "/admin/account/second-factor/off",
}


def _routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, APIRoute):
            yield route


def console_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = [
        (method, route.path)
        for route in _routes(app.routes)
        if route.path.startswith("/admin")
        for method in sorted(route.methods or ())
    ]
    assert len(found) > 15, found  # the walk really found the console
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_admin_route_sends_an_anonymous_request_to_sign_in(console: Console) -> None:
    client = console.client()
    for method, path in console_routes(console.app):
        if path in OPEN:
            continue
        answer = client.request(method, _concrete(path), follow_redirects=False)
        assert answer.status_code == 303, (method, path, answer.status_code)
        assert answer.headers["location"].startswith("/admin/sign-in?next="), (method, path)


def test_every_write_refuses_a_viewer(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    viewer = signed_in(Role.VIEWER)
    token = form_token(viewer.get("/admin").text)
    writes = [
        (m, p)
        for m, p in console_routes(console.app)
        if m == "POST" and p not in OPEN | OWN_ACCOUNT
    ]
    assert writes, "no write routes found"
    for method, path in writes:
        answer = viewer.request(
            method, _concrete(path), data={"csrf_token": token}, follow_redirects=False
        )
        assert answer.status_code == 403, (method, path, answer.status_code)


@pytest.mark.parametrize(
    ("path", "lowest"),
    [
        ("/admin/audit", Role.OWNER),
        ("/admin/subscribers/export.csv", Role.OWNER),
        ("/admin/gifts/export.csv", Role.OWNER),
        ("/admin/subscribers/import", Role.EDITOR),
    ],
)
def test_pages_beyond_a_role_are_refused(
    signed_in: Callable[[Role], TestClient], path: str, lowest: Role
) -> None:
    for role in Role:
        client = signed_in(role)
        expected = 200 if role.allows(lowest) else 403
        assert client.get(path).status_code == expected, (role, path)


def test_a_post_without_the_form_token_is_refused(
    signed_in: Callable[[Role], TestClient],
) -> None:
    owner = signed_in(Role.OWNER)
    answer = owner.post("/admin/sign-out-everywhere", data={}, follow_redirects=False)
    assert answer.status_code == 403
    answer = owner.post("/admin/sign-out-everywhere", data={"csrf_token": "0" * 64})
    assert answer.status_code == 403
    assert owner.get("/admin").status_code == 200  # still signed in: nothing happened


def test_a_forged_next_never_leaves_the_console(console: Console) -> None:
    client = console.client()
    for bad in ("https://evil.example/admin", "//evil.example", "/subscribe"):
        page = client.get("/admin/sign-in", params={"next": bad})
        assert 'name="next" value="/admin"' in page.text, bad
