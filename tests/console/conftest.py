"""A console on the test database, with staff of each role and a way to sign them in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.config import Settings
from newsletter.console import guard
from newsletter.database import transaction
from newsletter.staff import accounts
from newsletter.staff.models import Role
from newsletter.web.app import create_app

PASSWORD = "amber kettle drifts past quarry 42"  # long, and on no common list


@dataclass
class Clock:
    """The console's clock, moved by the test (never the real current time)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Console:
    app: FastAPI
    clock: Clock

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://testserver", client=("198.51.100.7", 5000))

    def add_staff(self, email: str, role: Role, password: str = PASSWORD) -> None:
        with transaction(self.app.state.sessions) as session:
            member = accounts.add(session, email, role)
            accounts.set_password(session, member, password, organisation="")


@pytest.fixture
def console(settings: Settings, db_url: str) -> Iterator[Console]:
    settings = settings.model_copy(update={"database_url": db_url})
    app = create_app(settings)
    clock = Clock(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    app.dependency_overrides[guard.now] = clock
    yield Console(app, clock)
    app.state.engine.dispose()


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form token"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> int:
    """Sign in through the real form; returns the status of the POST (303 when it worked)."""
    page = client.get("/admin/sign-in")
    answer = client.post(
        "/admin/sign-in",
        data={
            "email": email,
            "password": password,
            "next": "/admin",
            "csrf_token": form_token(page.text),
        },
        follow_redirects=False,
    )
    return answer.status_code


@pytest.fixture
def signed_in(console: Console) -> Callable[[Role], TestClient]:
    """A client signed in as a new staff member of ``role``."""

    def make(role: Role) -> TestClient:
        email = f"{role.value}@example.org"
        console.add_staff(email, role)
        client = console.client()
        assert sign_in(client, email) == 303
        return client

    return make
