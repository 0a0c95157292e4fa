"""Signing in and out, choosing a password from a one-time link, and the second factor."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import RedirectResponse, Response

from newsletter import config as config_module
from newsletter.console.guard import (
    COOKIE,
    Clock,
    Config,
    Sessions,
    Viewer,
    network,
    secure_cookies,
)
from newsletter.console.pages import back, render
from newsletter.database import transaction
from newsletter.errors import NewsletterError
from newsletter.staff import accounts, audit, resetmail, signin
from newsletter.staff.passwords import WeakPassword
from newsletter.web import csrf
from newsletter.web.services import Mail, Outbox

router = APIRouter()
log = logging.getLogger(__name__)
PENDING = "nl_staff_pending"  # the half-open session while the second factor is asked


def _safe_next(value: str) -> str:
    """Only a path inside the console: never another host, never a scheme."""
    if value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin"


def _form_page(
    request: Request, template: str, config: Config, status: int = 200, **context: object
) -> Response:
    """A page with a form for someone not yet signed in (the cookie-bound form token)."""
    carrier = Response()
    token = csrf.issue(request, carrier, config.secret)
    page = render(request, template, None, status_code=status, csrf_token=token, **context)
    page.headers.append("set-cookie", carrier.headers["set-cookie"])
    return page


@router.get("/admin/sign-in")
def sign_in_page(request: Request, config: Config, next: str = "/admin") -> Response:
    return _form_page(request, "admin/sign-in.html", config, next=_safe_next(next), error="")


def _set_cookie(
    response: Response, name: str, value: str, request: Request, config: Config
) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, config),
        path="/admin",
    )


@router.post("/admin/sign-in")
def sign_in(
    request: Request,
    config: Config,
    factory: Sessions,
    clock: Clock,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    csrf.check(request, csrf_token, config.secret)
    target, where = _safe_next(next), network(request)
    with transaction(factory) as session:  # commits the count of a failed attempt too
        try:
            started = signin.sign_in(session, email, password, where, clock)
        except signin.SignInRefused as refused:
            return _form_page(
                request,
                "admin/sign-in.html",
                config,
                401,
                next=target,
                error=str(refused),
                email=email,
            )
        if not started.needs_code:
            audit.record(session, started.member.email, "staff.sign-in", ip=where)
    if started.needs_code:
        response = RedirectResponse(f"/admin/sign-in/code?next={target}", status_code=303)
        _set_cookie(response, PENDING, started.token, request, config)
        return response
    response = RedirectResponse(target, status_code=303)
    _set_cookie(response, COOKIE, started.token, request, config)
    return response


@router.get("/admin/sign-in/code")
def code_page(request: Request, config: Config, next: str = "/admin") -> Response:
    return _form_page(request, "admin/sign-in-code.html", config, next=_safe_next(next), error="")


@router.post("/admin/sign-in/code")
def code(
    request: Request,
    config: Config,
    factory: Sessions,
    clock: Clock,
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    csrf.check(request, csrf_token, config.secret)
    target, where = _safe_next(next), network(request)
    with transaction(factory) as session:
        try:
            started = signin.second_factor(
                session, request.cookies.get(PENDING, ""), code, where, clock
            )
        except signin.SignInRefused as refused:
            return _form_page(
                request, "admin/sign-in-code.html", config, 401, next=target, error=str(refused)
            )
        audit.record(session, started.member.email, "staff.sign-in", "second factor", ip=where)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(PENDING, path="/admin")
    _set_cookie(response, COOKIE, started.token, request, config)
    return response


@router.post("/admin/sign-out")
def sign_out(staff: Viewer, factory: Sessions) -> Response:
    with transaction(factory) as session:
        signin.sign_out(session, staff.cookie)
        audit.record(session, staff.email, "staff.sign-out", ip=staff.network)
    response = back("/admin/sign-in", "You are signed out.")
    response.delete_cookie(COOKIE, path="/admin")
    return response


@router.post("/admin/sign-out-everywhere")
def sign_out_everywhere(staff: Viewer, factory: Sessions) -> Response:
    with transaction(factory) as session:
        member = accounts.get(session, staff.email)
        ended = signin.sign_out_everywhere(session, member)
        audit.record(
            session,
            staff.email,
            "staff.sign-out-everywhere",
            f"{ended} sessions",
            ip=staff.network,
        )
    response = back("/admin/sign-in", "You are signed out on every device.")
    response.delete_cookie(COOKIE, path="/admin")
    return response


@router.get("/admin/password/{token}")
def password_page(
    request: Request, token: str, config: Config, factory: Sessions, clock: Clock
) -> Response:
    with transaction(factory) as session:
        opened = accounts.open_link(session, token, clock)
        email = opened.member.email
    return _form_page(request, "admin/password.html", config, email=email, token=token, error="")


@router.post("/admin/password/{token}")
def choose_password(
    request: Request,
    token: str,
    config: Config,
    factory: Sessions,
    clock: Clock,
    password: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    csrf.check(request, csrf_token, config.secret)
    error = "the two passwords differ" if password != repeat else ""
    email = ""
    if not error:
        try:
            with transaction(factory) as session:
                member = accounts.use_link(session, token, password, clock)
                audit.record(session, member.email, "staff.password", ip=network(request))
        except WeakPassword as weak:
            error = str(weak)
    if error:
        with transaction(factory) as session:
            email = accounts.open_link(session, token, clock).member.email
        return _form_page(
            request, "admin/password.html", config, 400, email=email, token=token, error=error
        )
    return back("/admin/sign-in", "Your password is set. Please sign in.")


@router.get("/admin/forgot")
def forgot_page(request: Request, config: Config) -> Response:
    return _form_page(request, "admin/forgot.html", config, sent=False)


@router.post("/admin/forgot")
def forgot(
    request: Request,
    background: BackgroundTasks,
    config: Config,
    factory: Sessions,
    clock: Clock,
    mail: Mail,
    email: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The same answer, just as fast, whether or not the address has an account."""
    csrf.check(request, csrf_token, config.secret)
    where = network(request)
    with transaction(factory) as session:
        try:
            token = signin.reset_requested(session, email, where, clock)
        except signin.SignInRefused as refused:
            return _form_page(
                request, "admin/forgot.html", config, 429, sent=False, error=str(refused)
            )
        if token is not None:
            audit.record(session, email.strip().lower(), "staff.reset-requested", ip=where)
    if token is not None:
        url = f"{config.public_base_url.rstrip('/')}/admin/password/{token}"
        background.add_task(_send_reset, config, mail, email.strip(), url)
    return _form_page(request, "admin/forgot.html", config, sent=True)


def _send_reset(config: config_module.Settings, mail: Outbox, email: str, url: str) -> None:
    message = resetmail.reset_message(config, mail.signer, email, url)
    try:
        with mail.connect() as transport:
            transport.send(config.sender_address, email, message)
    except NewsletterError:
        log.exception("could not send a staff password-reset link")
