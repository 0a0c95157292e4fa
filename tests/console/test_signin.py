"""Signing in: passwords, locks, sessions that end, and the second factor."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import timedelta
from email.policy import default

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.console.guard import COOKIE
from newsletter.database import transaction
from newsletter.staff import signin
from newsletter.staff.models import AuditEvent, Role, StaffSession
from newsletter.web import services
from tests.console.conftest import PASSWORD, Console, form_token, sign_in


def test_ten_wrong_passwords_lock_the_account_for_a_while(console: Console) -> None:
    console.add_staff("ann@example.org", Role.EDITOR)
    client = console.client()
    for _ in range(signin.ACCOUNT_LIMIT - 1):
        assert sign_in(client, "ann@example.org", "wrong password, sorry") == 401
    page = client.get("/admin/sign-in")
    answer = client.post(
        "/admin/sign-in",
        data={
            "email": "ann@example.org",
            "password": "still the wrong one",
            "csrf_token": form_token(page.text),
        },
    )
    assert answer.status_code == 401 and "locked" in answer.text
    assert sign_in(client, "ann@example.org") == 401  # the right password, but locked
    console.clock.now += signin.LOCK_FOR + timedelta(seconds=1)
    assert sign_in(client, "ann@example.org") == 303


def test_a_lock_does_not_tell_whether_an_account_exists(console: Console) -> None:
    console.add_staff("real@example.org", Role.VIEWER)
    answers = {}
    for address in ("real@example.org", "ghost@example.org"):
        client = console.client()
        for _ in range(signin.ACCOUNT_LIMIT):
            page = client.get("/admin/sign-in")
            answer = client.post(
                "/admin/sign-in",
                data={
                    "email": address,
                    "password": "not it at all",
                    "csrf_token": form_token(page.text),
                },
            )
        alert = answer.text.split('role="alert"')[1].split("</p>")[0]
        answers[address] = (answer.status_code, alert)
    assert answers["real@example.org"] == answers["ghost@example.org"]
    assert "locked" in answers["ghost@example.org"][1]
    assert "ghost" not in answers["ghost@example.org"][1]


def test_a_cookie_from_before_sign_out_no_longer_works(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    client = signed_in(Role.EDITOR)
    old = client.cookies.get(COOKIE)
    assert old and client.get("/admin").status_code == 200
    token = form_token(client.get("/admin").text)
    assert client.post("/admin/sign-out", data={"csrf_token": token}).status_code == 200
    thief = console.client()
    thief.cookies.set(COOKIE, old, domain="testserver", path="/admin")
    answer = thief.get("/admin", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/sign-in")


def test_an_idle_session_ends(console: Console, signed_in: Callable[[Role], TestClient]) -> None:
    client = signed_in(Role.VIEWER)
    console.clock.now += timedelta(minutes=29)
    assert client.get("/admin", follow_redirects=False).status_code == 200
    console.clock.now += timedelta(minutes=29)  # active 29 minutes ago: still fine
    assert client.get("/admin", follow_redirects=False).status_code == 200
    console.clock.now += timedelta(minutes=31)
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_signing_in_issues_a_new_session_id_and_a_strict_cookie(console: Console) -> None:
    console.add_staff("bea@example.org", Role.VIEWER)
    client = console.client()
    client.cookies.set(COOKIE, "planted-by-an-attacker", domain="testserver", path="/admin")
    page = client.get("/admin/sign-in")
    answer = client.post(
        "/admin/sign-in",
        data={
            "email": "bea@example.org",
            "password": PASSWORD,
            "csrf_token": form_token(page.text),
        },
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" in cookie and "planted-by-an-attacker" not in cookie


def test_sign_out_everywhere_ends_every_session(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    laptop = signed_in(Role.OWNER)
    phone = console.client()
    assert sign_in(phone, "owner@example.org") == 303
    token = form_token(phone.get("/admin/account").text)
    assert phone.post("/admin/sign-out-everywhere", data={"csrf_token": token}).status_code == 200
    assert laptop.get("/admin", follow_redirects=False).status_code == 303
    with transaction(console.app.state.sessions) as session:
        assert session.scalars(select(StaffSession)).all() == []
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"staff.sign-in", "staff.sign-out-everywhere"} <= actions


def test_the_second_factor_is_asked_and_recovery_codes_work_once(
    console: Console, signed_in: Callable[[Role], TestClient]
) -> None:
    client = signed_in(Role.EDITOR)
    page = client.get("/admin/account").text
    secret = page.split('id="totp-secret">')[1].split("<")[0]
    code = pyotp.TOTP(secret).at(console.clock.now)
    answer = client.post(
        "/admin/account/second-factor",
        data={"csrf_token": form_token(page), "secret": secret, "code": code},
    )
    assert answer.status_code == 200 and 'id="recovery-codes"' in answer.text
    recovery = answer.text.split('id="recovery-codes">')[1].split("</ul>")[0]
    first_code = recovery.split("<li>")[1].split("</li>")[0]

    fresh = console.client()
    assert sign_in(fresh, "editor@example.org") == 303
    assert fresh.get("/admin", follow_redirects=False).status_code == 303  # not in yet

    def enter(client: TestClient, code: str) -> int:
        page = client.get("/admin/sign-in/code")
        return client.post(
            "/admin/sign-in/code",
            data={"code": code, "next": "/admin", "csrf_token": form_token(page.text)},
            follow_redirects=False,
        ).status_code

    assert enter(fresh, "000000" if code != "000000" else "111111") == 401
    assert enter(fresh, pyotp.TOTP(secret).at(console.clock.now)) == 303
    assert fresh.get("/admin").status_code == 200

    for expected in (303, 401):  # a recovery code works once
        other = console.client()
        assert sign_in(other, "editor@example.org") == 303
        assert enter(other, first_code) == expected


def test_a_forgotten_password_is_reset_by_an_emailed_link(console: Console) -> None:
    from newsletter.mail.transports.memory import MemoryTransport

    outbox = MemoryTransport()
    console.app.dependency_overrides[services.outbox] = lambda: services.Outbox(
        lambda: outbox, lambda: None
    )
    console.add_staff("cat@example.org", Role.EDITOR)
    client = console.client()

    def ask(address: str) -> str:
        page = client.get("/admin/forgot")
        answer = client.post(
            "/admin/forgot", data={"email": address, "csrf_token": form_token(page.text)}
        )
        assert answer.status_code == 200
        return answer.text.split('role="status">')[1].split("</p>")[0]

    assert ask("nobody@example.org") == ask("cat@example.org")  # the same answer either way
    assert [m for m in outbox.sent if "nobody" in str(m)] == []
    (sent,) = outbox.to("cat@example.org")
    message = email.message_from_bytes(sent.message, policy=default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    link = str(body.get_content()).split("https://news.example.org")[1].split()[0]
    page = client.get(link)
    new = "saffron ladder otter glides"
    done = client.post(
        link, data={"csrf_token": form_token(page.text), "password": new, "repeat": new}
    )
    assert "Please sign in" in done.text
    assert sign_in(client, "cat@example.org", PASSWORD) == 401
    assert sign_in(client, "cat@example.org", new) == 303
