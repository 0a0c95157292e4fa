"""Public donation pages: the form, the redirect to Checkout, thanks, and "manage my gift".

Money is never recorded here: the thanks page only reads the session back from
Stripe, and only the signed webhook writes gifts.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter import tokens, wiring
from newsletter.config import Settings
from newsletter.donations import amounts, intents
from newsletter.donations.gateway import PaymentProviderError
from newsletter.donations.models import RecurringGift
from newsletter.errors import NewsletterError, TokenError
from newsletter.web import clientip, csrf
from newsletter.web.services import GiftLimits, Stripe

router = APIRouter()
log = logging.getLogger(__name__)
MANAGE = "donate-manage"
MANAGE_MAX_AGE = 3600
#: Everything the donor may type or tick, shown again as entered when the form has an error.
FORM_FIELDS = (
    "amount",
    "frequency",
    "c",
    "t",
    "other_amount",
    "cover_fees",
    "gift_aid",
    "gift_aid_name",
    "gift_aid_address",
    "gift_aid_postcode",
    "note",
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _client(request: Request) -> str:
    return clientip.rate_key(request.client.host) if request.client else "unknown"


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = _settings(request)
    response = HTMLResponse("", status_code=status)
    token = csrf.issue(request, response, settings.secret)
    body = request.app.state.templates.get_template(name).render(
        settings=settings.public(),
        csrf_field=csrf.FIELD,
        csrf_token=token,
        **context,
    )
    response.body = response.render(body)
    response.headers["content-length"] = str(len(response.body))
    response.headers["cache-control"] = "no-store"
    return response


def _form_context(settings: Settings, values: dict[str, str]) -> dict[str, Any]:
    """What the form shows, prefilled from the link (``amount=25&frequency=monthly``)."""
    currency = settings.currency
    low, high = amounts.limits(currency, settings.donation_min, settings.donation_max)
    presets = amounts.presets(settings.donation_presets, currency)
    chosen = values.get("amount", "")
    prefill = presets[1] if len(presets) > 1 else low
    if chosen and chosen != "other":
        with contextlib.suppress(amounts.InvalidAmount):
            prefill = amounts.parse(chosen, currency)
    shown = amounts.plain(prefill, currency)
    preset_values = [amounts.plain(p, currency) for p in presets]
    typed = values.get("other_amount", "").strip()  # typed wins, as in intents.parse_form
    return {
        "presets": [
            (amounts.plain(p, currency), amounts.format_amount(p, currency)) for p in presets
        ],
        "selected": "other" if typed or chosen == "other" or shown not in preset_values else shown,
        "other_amount": typed or ("" if chosen == "other" or shown in preset_values else shown),
        "frequency": values.get("frequency") if values.get("frequency") == "monthly" else "once",
        "minimum": amounts.format_amount(low, currency),
        "maximum": amounts.format_amount(high, currency),
        "step": "1" if amounts.exponent(currency) == 0 else "0.01",
        "currency": currency.upper(),
        "values": values,
        "fee_note": _fee_note(settings),
    }


def _fee_note(settings: Settings) -> str:
    if not settings.cover_fees:
        return ""
    fixed = f"{settings.donation_fee_fixed} {settings.currency.upper()}"
    return f"{settings.donation_fee_percent}% + {fixed}"


@router.get("/donate", response_class=HTMLResponse)
async def donate_form(request: Request, found: Stripe) -> HTMLResponse:
    """Prefilled from the link (``c``, ``t``, ``amount``, ``frequency``, ``cancelled``);
    no query and no file is read, so it runs on the event loop, not a worker thread."""
    settings = _settings(request)
    query = request.query_params
    values = dict.fromkeys(FORM_FIELDS, "")
    values.update({name: query.get(name, "") for name in ("amount", "frequency", "c", "t")})
    return _page(
        request,
        "donate.html",
        configured=found is not None,
        cancelled=bool(query.get("cancelled", "")),
        error="",
        **_form_context(settings, values),
    )


@router.post("/donate", response_model=None)
async def donate_submit(request: Request, found: Stripe, limits: GiftLimits) -> Response:
    settings = _settings(request)
    if found is None:  # no form was shown, so there is nothing to check or keep
        return _page(
            request,
            "donate.html",
            503,
            configured=False,
            cancelled=False,
            error="",
            **_form_context(settings, dict.fromkeys(FORM_FIELDS, "")),
        )
    fields = {k: str(v) for k, v in (await request.form()).items()}
    csrf.check(request, fields.get(csrf.FIELD), settings.secret)
    values = {k: fields.get(k, "") for k in FORM_FIELDS}
    context = _form_context(settings, values)
    if not await run_in_threadpool(limits.per_ip.allow, _client(request)):
        return _page(
            request,
            "donate.html",
            429,
            configured=True,
            cancelled=False,
            error="Too many attempts from your connection; please wait a few minutes.",
            **context,
        )
    try:
        form = intents.parse_form(settings, fields)
        who = intents.attribution(settings, fields.get("t"))
        checkout = await run_in_threadpool(
            intents.start_checkout, request.app.state.sessions, settings, found, form, who
        )
    except PaymentProviderError as exc:
        return _page(
            request, "donate.html", 502, configured=True, cancelled=False, error=str(exc), **context
        )
    except NewsletterError as exc:
        return _page(
            request,
            "donate.html",
            400,
            configured=True,
            cancelled=False,
            error=str(exc).capitalize(),
            **context,
        )
    return RedirectResponse(checkout.url, status_code=303)


#: Ticks "Other amount" as the donor types one, so the page agrees with what the server
#: will charge (a typed amount wins there either way). A file, not inline, so a strict
#: Content-Security-Policy (script-src 'self') allows it.
AMOUNT_SCRIPT = """document.addEventListener("DOMContentLoaded", function () {
  var typed = document.getElementById("other_amount");
  var other = document.querySelector('input[name="amount"][value="other"]');
  if (!typed || !other) return;
  typed.addEventListener("input", function () { if (typed.value !== "") other.checked = true; });
});
"""


@router.get("/donate/amount.js")
def amount_script() -> Response:
    return Response(
        AMOUNT_SCRIPT,
        media_type="text/javascript",
        headers={"cache-control": "public, max-age=3600"},
    )


@router.get("/donate/thanks", response_class=HTMLResponse)
async def donate_thanks(request: Request, found: Stripe, session_id: str = "") -> HTMLResponse:
    summary = None
    if found is not None and session_id.startswith("cs_") and len(session_id) < 255:
        try:
            summary = await run_in_threadpool(found.retrieve_checkout_session, session_id)
        except PaymentProviderError:
            summary = None
    amount = amounts.format_amount(summary.amount_minor, summary.currency) if summary else ""
    return _page(request, "donate-thanks.html", summary=summary, amount=amount)


@router.get("/donate/manage", response_class=HTMLResponse)
def manage_form(request: Request) -> HTMLResponse:
    return _page(request, "donate-manage.html", sent=False, error="")


def _send_manage_link(settings: Settings, sessions: sessionmaker[Session], email: str) -> None:
    """Look the address up and mail the link, after the answer has gone: the page then
    takes as long for a donor as for a stranger, and never waits on the mail server."""
    with sessions() as session:
        customer = session.scalar(
            select(RecurringGift.customer_id)
            .where(func.lower(RecurringGift.donor_email) == email.strip().lower())
            .where(RecurringGift.customer_id != "")
            .order_by(RecurringGift.id.desc())
        )
    if not customer:
        return  # the same answer either way: the form never reveals who gives
    token = tokens.sign(settings.secret, MANAGE, {"cus": customer})
    url = f"{settings.public_base_url}/donate/manage/{token}"
    try:
        wiring.donor_mailer(settings).send_manage_link(email.strip(), url)
    except NewsletterError:
        log.exception("manage link to a donor not sent")


@router.post("/donate/manage", response_class=HTMLResponse)
async def manage_request(request: Request, limits: GiftLimits) -> HTMLResponse:
    settings = _settings(request)
    fields = {k: str(v) for k, v in (await request.form()).items()}
    csrf.check(request, fields.get(csrf.FIELD), settings.secret)
    email = fields.get("email", "")
    if "@" not in email or len(email) > 320:
        return _page(
            request,
            "donate-manage.html",
            400,
            sent=False,
            error="Please enter the email address you gave with your gift.",
        )
    address = email.strip().lower()
    ip_ok = await run_in_threadpool(limits.manage_per_ip.allow, _client(request))
    # per address too: many connections must not flood one donor's inbox
    if not ip_ok or not await run_in_threadpool(limits.manage_per_address.allow, address):
        return _page(
            request,
            "donate-manage.html",
            429,
            sent=False,
            error="Too many requests; please try again later.",
        )
    page = _page(request, "donate-manage.html", sent=True, error="")
    page.background = BackgroundTask(
        _send_manage_link, settings, request.app.state.sessions, email.strip()
    )
    return page


def _manage_customer(request: Request, token: str) -> str:
    """The Stripe customer a "manage my gift" link was made for; ``TokenError`` otherwise."""
    payload = tokens.verify(_settings(request).secret, MANAGE, token, max_age=MANAGE_MAX_AGE)
    customer = payload.get("cus")
    if not isinstance(customer, str) or not customer:
        raise TokenError("this link cannot be used")
    return customer


def _not_configured(request: Request) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        503,
        title="Gift management is not available",
        message="Online giving is not set up yet; please contact us instead.",
    )


@router.get("/donate/manage/{token}", response_class=HTMLResponse)
def manage_open(request: Request, token: str, found: Stripe) -> HTMLResponse:
    """The page the emailed link opens: checks the link, asks Stripe nothing.

    Mail scanners follow every link in a message; only the button's POST, which
    they do not send, opens a billing-portal session.
    """
    _manage_customer(request, token)
    if found is None:
        return _not_configured(request)
    return _page(request, "donate-manage-open.html", action=f"/donate/manage/{token}")


@router.post("/donate/manage/{token}", response_model=None)
async def manage_portal(request: Request, token: str, found: Stripe) -> Response:
    """The button: a Stripe billing-portal session for the link's customer, then there."""
    settings = _settings(request)
    fields = {k: str(v) for k, v in (await request.form()).items()}
    csrf.check(request, fields.get(csrf.FIELD), settings.secret)
    customer = _manage_customer(request, token)
    if found is None:
        return _not_configured(request)
    try:
        url = await run_in_threadpool(
            found.create_portal_session, customer, f"{settings.public_base_url}/donate"
        )
    except PaymentProviderError as exc:
        return _page(
            request, "error.html", 502, title="Stripe could not be reached", message=str(exc)
        )
    return RedirectResponse(url, status_code=303)
