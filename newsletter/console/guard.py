"""Who may use the console: the signed-in staff member, their role, and forms they really sent.

Every console route declares what it needs with one of the ``Viewer``, ``Editor`` or
``Owner`` dependencies; nothing else grants access. A missing or ended session sends the
browser to the sign-in page; a role too low for the route answers 403. Console forms carry a
token bound to the session, so a page on another site cannot post one.
"""

# No "from __future__ import annotations": FastAPI must read the closures' annotations
# (which name local dependencies) as real objects.

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.errors import NewsletterError
from newsletter.staff import signin
from newsletter.staff.models import Role, StaffMember
from subscribers.orm import utcnow

COOKIE = "nl_staff"
CSRF_FIELD = "csrf_token"


class SignInNeeded(NewsletterError, PermissionError):
    """No live session: the app redirects to the sign-in page and back afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__("please sign in")
        self.next_path = next_path


class Forbidden(NewsletterError, PermissionError):
    """Signed in, but the role does not allow this (answered with 403)."""


def now() -> datetime:
    """The clock of the console; tests override this dependency."""
    return utcnow()


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def network(request: Request) -> str:
    """The client's address, an IPv6 client reduced to its /64 (one household, one budget)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def secure_cookies(request: Request, config: Settings) -> bool:
    return request.url.scheme == "https" or config.public_base_url.startswith("https://")


@dataclass(frozen=True)
class Staff:
    """The signed-in member as routes see it (detached from any database session)."""

    id: int
    email: str
    name: str
    role: Role
    has_second_factor: bool
    cookie: str
    csrf: str
    network: str

    def may(self, needed: Role | str) -> bool:
        return self.role.allows(Role(needed))

    @property
    def label(self) -> str:
        return self.email


def csrf_token(secret: bytes, cookie: str) -> str:
    return hmac.new(secret, f"console-csrf.{cookie}".encode(), hashlib.sha256).hexdigest()


def _signed_in(
    request: Request,
    clock: Annotated[datetime, Depends(now)],
    config: Annotated[Settings, Depends(settings)],
    factory: Annotated[sessionmaker[Session], Depends(sessions)],
) -> Staff:
    cookie = request.cookies.get(COOKIE, "")
    idle = timedelta(minutes=config.staff_idle_minutes)
    with transaction(factory) as session:
        member: StaffMember | None = signin.current(session, cookie, clock, idle)
        if member is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(target if request.method == "GET" else "/admin")
        return Staff(
            id=member.id,
            email=member.email,
            name=member.name,
            role=Role(member.role),
            has_second_factor=bool(member.totp_secret),
            cookie=cookie,
            csrf=csrf_token(config.secret, cookie),
            network=network(request),
        )


def _needs(role: Role) -> object:
    def check(staff: Annotated[Staff, Depends(_signed_in)]) -> Staff:
        if not staff.may(role):
            raise Forbidden(f"your role ({staff.role}) may not do this; ask an owner")
        return staff

    return check


async def _form_token(request: Request) -> str:
    if request.method in ("GET", "HEAD"):
        return ""
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def _checked(role: Role) -> object:
    """The role check, plus the session-bound form token on every write."""
    needs = _needs(role)

    def check(
        request: Request,
        staff: Annotated[Staff, Depends(needs)],
        submitted: Annotated[str, Depends(_form_token)],
    ) -> Staff:
        if request.method not in ("GET", "HEAD") and not hmac.compare_digest(submitted, staff.csrf):
            raise Forbidden("the form has expired; reload the page and try again")
        return staff

    return check


Viewer = Annotated[Staff, Depends(_checked(Role.VIEWER))]
Editor = Annotated[Staff, Depends(_checked(Role.EDITOR))]
Owner = Annotated[Staff, Depends(_checked(Role.OWNER))]
Clock = Annotated[datetime, Depends(now)]
Config = Annotated[Settings, Depends(settings)]
Sessions = Annotated[sessionmaker[Session], Depends(sessions)]


def login_redirect(next_path: str) -> str:
    return f"/admin/sign-in?next={quote(next_path, safe='/')}"
