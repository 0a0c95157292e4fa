"""``/donate/manage``: answered before any mail is sent, and capped per address as well as
per connection, so nobody can flood a donor's inbox or time the answer to learn who gives."""

from __future__ import annotations

import asyncio
import mailbox
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from newsletter.config import Settings
from newsletter.web.app import create_app
from newsletter.web.services import MANAGE_PER_ADDRESS
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET, post_event
from tests.donations.fake_stripe import FakeStripe
from tests.local import free_port, serving
from tests.mail.smtpserver import ScriptedHandler, Server

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class HeldHandler(ScriptedHandler):
    """Takes each message only once the test lets it through."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.arrived = threading.Event()
        self.taken = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        reply = await super().handle_DATA(server, session, envelope)
        self.taken.set()
        return reply


@pytest.fixture
def held_smtp() -> Iterator[tuple[Server, HeldHandler]]:
    server = Server()
    handler = HeldHandler()
    server.handler = handler
    server.controller.handler = handler
    with server:
        try:
            yield server, handler
        finally:
            handler.release.set()


def _request_link(client: httpx.Client | TestClient, base: str, email: str) -> Any:
    page = client.get(f"{base}/donate/manage")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    return client.post(f"{base}/donate/manage", data={"csrf_token": token, "email": email})


def _monthly_donor(client: TestClient, fake: FakeStripe, email: str) -> None:
    page = client.get("/donate")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    answer = client.post(
        "/donate",
        data={"csrf_token": token, "amount": "10", "frequency": "monthly"},
        follow_redirects=False,
    )
    paid = fake.pay(answer.headers["location"].rsplit("/", 1)[1], email=email)
    event = fake.event("checkout.session.completed", paid)
    assert post_event(client, event).status_code == 200


def test_the_answer_comes_before_the_mail(
    settings: Settings, fake_stripe: FakeStripe, held_smtp: tuple[Server, HeldHandler]
) -> None:
    server, handler = held_smtp
    port = free_port()
    served = settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{port}",
            "stripe_secret_key": SecretStr(SECRET_KEY),
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": fake_stripe.url,
            "smtp_url": f"smtp://127.0.0.1:{server.port}?timeout=30",
        }
    )
    app = create_app(served)
    with TestClient(app, base_url=served.public_base_url) as setup:
        _monthly_donor(setup, fake_stripe, "mo@example.org")
    handler.received.clear()
    handler.arrived.clear()
    with serving(app, port), httpx.Client() as client:
        answer = _request_link(client, served.public_base_url, "mo@example.org")
        # the mail server has not taken the message (it cannot until released),
        # yet the donor already has the page
        assert answer.status_code == 200 and "If a monthly gift is registered" in answer.text
        assert handler.received == []
        assert handler.arrived.wait(30)  # the link is on its way, after the answer
        handler.release.set()
        assert handler.taken.wait(30)
    [mail] = handler.received
    assert mail.recipients == ["mo@example.org"] and b"/donate/manage/" in mail.data


def test_one_address_gets_a_few_links_whatever_the_connection(
    stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    app = create_app(stripe_settings)
    base = "https://news.example.org"
    with TestClient(app, base_url=base) as setup:
        _monthly_donor(setup, fake_stripe, "mo@example.org")
    codes = []
    for n in range(MANAGE_PER_ADDRESS + 3):  # each from its own address on the internet
        with TestClient(app, base_url=base, client=(f"198.51.100.{n + 1}", 40000)) as c:
            codes.append(_request_link(c, base, "Mo@Example.org ").status_code)
    assert codes == [200] * MANAGE_PER_ADDRESS + [429] * 3
    outbox = mailbox.Maildir(str(stripe_settings.outbox_dir), create=True)
    links = [m for m in outbox if m["Subject"] == "Manage your monthly gift"]
    assert len(links) == MANAGE_PER_ADDRESS
    # another person is not held back by it
    with TestClient(app, base_url=base, client=("203.0.113.9", 40000)) as c:
        assert _request_link(c, base, "someone.else@example.org").status_code == 200
