"""Owners manage the console's staff and see the settings in force (never a secret's value)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import SecretStr

from newsletter.console.guard import Clock, Config, Owner, Sessions
from newsletter.console.pages import back, render
from newsletter.database import transaction
from newsletter.errors import NewsletterError
from newsletter.staff import accounts, audit
from newsletter.staff.models import Role

router = APIRouter()


def _team(request: Request, staff: Owner, factory: Sessions, link: str, error: str) -> Response:
    with transaction(factory) as session:
        members = [
            {
                "email": m.email,
                "name": m.name,
                "role": m.role,
                "ready": bool(m.password_hash),
                "second_factor": bool(m.totp_secret),
            }
            for m in accounts.all_members(session)
        ]
    roles = [r.value for r in Role]
    return render(
        request, "admin/staff.html", staff, members=members, roles=roles, link=link, error=error
    )


@router.get("/admin/staff")
def team(request: Request, staff: Owner, factory: Sessions) -> Response:
    return _team(request, staff, factory, link="", error="")


@router.post("/admin/staff")
def add_member(
    request: Request,
    staff: Owner,
    factory: Sessions,
    config: Config,
    clock: Clock,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    """A new account and its one-time link, shown once to the owner to pass on."""
    try:
        with transaction(factory) as session:
            member = accounts.add(session, email, accounts.role_of(role))
            token = accounts.issue_link(session, member, "welcome", clock)
            audit.record(
                session,
                staff.email,
                "staff.add",
                member.email,
                f"role {member.role}",
                ip=staff.network,
            )
    except NewsletterError as problem:
        return _team(request, staff, factory, link="", error=str(problem))
    link = f"{config.public_base_url.rstrip('/')}/admin/password/{token}"
    return _team(request, staff, factory, link=link, error="")


@router.post("/admin/staff/role")
def change_role(
    staff: Owner,
    factory: Sessions,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    with transaction(factory) as session:
        member = accounts.get(session, email)
        before = member.role
        accounts.set_role(session, member, accounts.role_of(role))
        audit.record(
            session,
            staff.email,
            "staff.role",
            member.email,
            f"{before} -> {role}",
            ip=staff.network,
        )
    return back("/admin/staff", f"{email} is now {role}.")


@router.post("/admin/staff/remove")
def remove_member(staff: Owner, factory: Sessions, email: Annotated[str, Form()] = "") -> Response:
    with transaction(factory) as session:
        member = accounts.get(session, email)
        accounts.remove(session, member)
        audit.record(session, staff.email, "staff.remove", email, ip=staff.network)
    return back("/admin/staff", f"{email} no longer has an account and is signed out.")


@router.get("/admin/settings")
def settings_page(request: Request, staff: Owner, config: Config) -> Response:
    """Read-only: settings come from the environment, so a web page cannot change them."""
    rows = []
    for name, value in sorted(config.model_dump().items()):
        if isinstance(getattr(config, name), SecretStr) or "secret" in name or "password" in name:
            shown = "set" if value else "not set"
        else:
            shown = str(value) if value not in (None, "") else "-"
        rows.append((f"NEWSLETTER_{name.upper()}", shown))
    return render(request, "admin/settings.html", staff, rows=rows)
