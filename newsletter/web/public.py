"""Reader pages: subscribe, confirm (double opt-in), preferences, one-click unsubscribe.

Every page works without JavaScript. Links in emails carry HMAC-signed,
purpose-bound tokens (``newsletter.links``). GET requests never change anything,
so mail scanners that follow links cannot subscribe or unsubscribe anyone; the
one-click POST (RFC 8058) needs no cookie and no CSRF field because the signed
token itself is the proof.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from newsletter import links, readers, signup, tokens
from newsletter.config import Settings
from newsletter.database import transaction, writer
from newsletter.errors import InvalidAddress, NewsletterError, TokenError
from newsletter.web import clientip, csrf
from newsletter.web.services import Limits, Mail, Outbox, SubscribeLimits
from newsletter.web.topic_list import PublicTopics, Topic
from subscribers import consent, lists, optin, people
from subscribers import topics as topics_
from subscribers.models import Status, Subscriber

router = APIRouter()
log = logging.getLogger(__name__)

LANGUAGE_NAMES = {  # how a language names itself in the menu; other tags show as written
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "it": "Italiano",
    "nl": "Nederlands",
    "pl": "Polski",
    "pt": "Português",
    "uk": "Українська",
    "ru": "Русский",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def _client(request: Request) -> tuple[str, str]:
    ip = request.client.host if request.client else ""
    return ip, request.headers.get("user-agent", "")


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = request.app.state.templates.get_template(template).render(
        settings=_settings(request).public(), **context
    )
    return HTMLResponse(html, status_code=status)


def _form_page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with a CSRF-protected form: sets the cookie, fills in the hidden field."""
    holder = Response()
    token = csrf.issue(request, holder, _settings(request).secret)
    response = _page(request, template, status, csrf_field=csrf.FIELD, csrf_token=token, **context)
    for cookie in holder.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    return response


def _verify(
    request: Request, purpose: str, token: str, max_age: float | None = None
) -> tuple[int, dict[str, Any]]:
    """The subscriber id and the whole payload of a link token (``TokenError`` if bad)."""
    payload = tokens.verify(_settings(request).secret, purpose, token, max_age=max_age)
    subscriber_id = payload.get("s")
    if not isinstance(subscriber_id, int):
        raise TokenError("this link is damaged")
    return subscriber_id, payload


def _token(request: Request, purpose: str, token: str, max_age: float | None = None) -> int:
    return _verify(request, purpose, token, max_age)[0]


def _text(form: FormData, name: str, limit: int = 320) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


# -- subscribe -------------------------------------------------------------------------


def _subscribe_page(
    request: Request,
    *,
    status: int = 200,
    error: str = "",
    values: dict[str, Any] | None = None,
    topics: list[Topic] | None = None,
) -> HTMLResponse:
    settings = _settings(request)
    if topics is None:
        listed: PublicTopics = request.app.state.public_topics
        topics = listed.fresh() or listed.load()
    return _form_page(
        request,
        "subscribe.html",
        status,
        topics=topics,
        error=error,
        values=values or {"email": "", "name": "", "topics": []},
        wording=signup.wording(settings, []),
    )


@router.get("/subscribe", response_class=HTMLResponse)
async def subscribe_form(request: Request) -> HTMLResponse:
    """No thread and no query while the topics are in memory (``topic_list``)."""
    listed: PublicTopics = request.app.state.public_topics
    topics = listed.fresh()
    if topics is None:
        topics = await run_in_threadpool(listed.load)
    return _subscribe_page(request, topics=topics)


# Handlers that read a form are async; their database work runs on the thread pool,
# so one slow query never stalls every other request of the process.


@router.post("/subscribe")
async def subscribe(
    request: Request, background: BackgroundTasks, mail: Mail, limits: Limits
) -> Response:
    form = await request.form()
    return await run_in_threadpool(_subscribe, request, form, background, mail, limits)


def _subscribe(
    request: Request,
    form: FormData,
    background: BackgroundTasks,
    mail: Outbox,
    limits: SubscribeLimits,
) -> Response:
    settings = _settings(request)
    csrf.check(request, _text(form, csrf.FIELD, 200), settings.secret)
    email, name = _text(form, "email"), _text(form, "name", 1000)
    topics = [t for t in form.getlist("topics") if isinstance(t, str)][:50]
    values = {"email": email, "name": name, "topics": topics}
    ip, agent = _client(request)
    per_ip, per_address = limits.per_ip, limits.per_address
    if not per_ip.allow(clientip.rate_key(ip)):  # an IPv6 /64 counts as one network
        return _page(
            request,
            "error.html",
            429,
            title="Too many attempts",
            message="Too many subscriptions from your network; please try again in an hour.",
        )
    if _text(form, "website"):  # the hidden honeypot: only robots fill it in
        return RedirectResponse("/subscribe/check-email", status_code=303)
    try:  # the message builder's own checks: what is stored here can be mailed
        key = readers.address(email).key
        name = readers.name(name)
    except (InvalidAddress, readers.InvalidName) as exc:
        return _subscribe_page(request, status=400, error=str(exc), values=values)
    if per_address.allow(key):
        confirmation = signup.request(
            settings,
            _sessions(request),
            address=email,
            name=name,
            topics=topics,
            ip=ip,
            user_agent=agent,
        )
        if confirmation is not None:
            background.add_task(_deliver, settings, mail, confirmation)
    return RedirectResponse("/subscribe/check-email", status_code=303)


def _deliver(settings: Settings, mail: Outbox, confirmation: signup.Confirmation) -> None:
    """Send after the response, so its timing does not tell whether mail went out."""
    who = confirmation.subscriber_id
    try:
        with mail.connect() as transport:  # an SMTP connection is closed after
            delivery = signup.send_confirmation(settings, transport, mail.signer, confirmation)
        if delivery.status != "sent":
            log.warning("confirmation to subscriber %s refused: %s", who, delivery.reply)
    except NewsletterError:
        log.exception("could not send the confirmation to subscriber %s", who)


@router.get("/subscribe/check-email", response_class=HTMLResponse)
def check_email(request: Request) -> HTMLResponse:
    return _page(request, "check_email.html")


# -- confirm ---------------------------------------------------------------------------


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    subscriber_id = _token(request, links.CONFIRM, token, links.CONFIRM_MAX_AGE)
    with transaction(_sessions(request)) as session:
        person = people.get(session, subscriber_id)
        topics = [m.name for m in people.memberships(session, person)[1]]
        email = person.email
    return _page(request, "confirm.html", email=email, topics=topics, action=f"/confirm/{token}")


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> HTMLResponse:
    settings = _settings(request)
    subscriber_id, payload = _verify(request, links.CONFIRM, token, links.CONFIRM_MAX_AGE)
    issued = datetime.fromtimestamp(int(payload.get("iat", 0)), UTC)
    ip, agent = _client(request)
    with transaction(_sessions(request)) as session:
        person = people.get(session, subscriber_id)
        names = [m.name for m in people.memberships(session, person)[1]]
        context = consent.Context(
            form="web:confirm", wording=signup.wording(settings, names), ip=ip, user_agent=agent
        )
        default = lists.ensure_default(session, settings.default_list)
        person = optin.confirm(session, subscriber_id, context, issued_at=issued, lists=[default])
        email = person.email
    return _page(
        request,
        "confirmed.html",
        email=email,
        preferences_url=links.preferences_url(settings, subscriber_id),
    )


# -- preferences -----------------------------------------------------------------------


def _preferences_page(
    request: Request, token: str, person: Subscriber, session: Session, **extra: Any
) -> HTMLResponse:
    on_lists, following = people.memberships(session, person)
    return _form_page(
        request,
        "preferences.html",
        email=person.email,
        name=person.name,
        language=person.language,
        languages=_languages(_settings(request)),
        lists=[m.name for m in on_lists],
        topics=topics_.public_topics(session),
        chosen={m.id for m in following},
        unsubscribed=person.status != Status.ACTIVE and person.status != Status.PENDING,
        action=f"/preferences/{token}",
        **extra,
    )


def _languages(settings: Settings) -> list[tuple[str, str]]:
    """The menu: only ``NEWSLETTER_LANGUAGES`` (nothing else is translated)."""
    return [(tag, LANGUAGE_NAMES.get(tag, tag)) for tag in settings.reader_languages]


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str) -> HTMLResponse:
    subscriber_id = _token(request, links.PREFERENCES, token)
    with transaction(_sessions(request)) as session:
        person = people.get(session, subscriber_id)
        return _preferences_page(request, token, person, session)


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def preferences(request: Request, token: str) -> HTMLResponse:
    form = await request.form()
    return await run_in_threadpool(_preferences, request, token, form)


def _preferences(request: Request, token: str, form: FormData) -> HTMLResponse:
    settings = _settings(request)
    subscriber_id = _token(request, links.PREFERENCES, token)
    csrf.check(request, _text(form, csrf.FIELD, 200), settings.secret)
    ip, agent = _client(request)
    with transaction(_sessions(request)) as session:
        person = people.get(session, subscriber_id)
        if _text(form, "action") == "unsubscribe":
            wording = "Unsubscribe from everything"
            context = consent.Context(
                form="web:preferences", wording=wording, ip=ip, user_agent=agent
            )
            people.unsubscribe(session, person, context)
            return _page(request, "unsubscribed.html")
        wanted = {t for t in form.getlist("topics") if isinstance(t, str)}
        chosen = [m for m in topics_.public_topics(session) if m.slug in wanted]
        language = _text(form, "language", 16)
        context = consent.Context(
            form="web:preferences",
            wording=signup.wording(settings, [m.name for m in chosen]),
            ip=ip,
            user_agent=agent,
        )
        people.update(
            session,
            person,
            context,
            name=readers.name(_text(form, "name", 1000)),
            language=language if language in settings.reader_languages else None,
            topics=chosen,
        )
        return _preferences_page(request, token, person, session, saved=True)


# -- one-click unsubscribe (RFC 8058) ----------------------------------------------------


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    settings = _settings(request)
    subscriber_id = _token(request, links.UNSUBSCRIBE, token)
    with transaction(_sessions(request)) as session:
        email = people.get(session, subscriber_id).email
    return _page(
        request,
        "unsubscribe.html",
        email=email,
        action=f"/u/{token}",
        preferences_url=links.preferences_url(settings, subscriber_id),
    )


@router.post("/u/{token}", response_class=HTMLResponse)
async def one_click(request: Request, token: str) -> HTMLResponse:
    """Effective at once; answers 200 (never a redirect) as RFC 8058 asks."""
    subscriber_id, payload = _verify(request, links.UNSUBSCRIBE, token)
    form = await request.form()
    return await run_in_threadpool(_one_click, request, form, subscriber_id, payload)


def leaving(
    subscriber_id: int, payload: dict[str, Any], form_value: str, ip: str, agent: str
) -> people.Leaving:
    """The unsubscribe a POST to ``/u/{token}`` asks for, as this route and the one-click
    fast path (``fast_unsubscribe``) both record it: ``form_value`` is the form's
    ``List-Unsubscribe`` field, ``One-Click`` from a mail client (RFC 8058)."""
    campaign = payload.get("c")
    context = consent.Context(
        form="one-click" if form_value.strip() == "One-Click" else "web:unsubscribe",
        wording=f"List-Unsubscribe (campaign {campaign})" if campaign else "Unsubscribe page",
        ip=ip,
        user_agent=agent,
    )
    return people.Leaving(subscriber_id, context)


def _one_click(
    request: Request, form: FormData, subscriber_id: int, payload: dict[str, Any]
) -> HTMLResponse:
    ip, agent = _client(request)
    asked = leaving(subscriber_id, payload, _text(form, "List-Unsubscribe"), ip, agent)
    # one writer at a time on SQLite: see ``database.writer``
    with writer(request.app.state.engine), transaction(_sessions(request)) as session:
        people.unsubscribe_all(session, [asked])  # erased or removed: nothing is sent anyway
    return _page(request, "unsubscribed.html")
