"""Recording what a donor asked for and sending them to Stripe Checkout.

The intent row is committed before Stripe is called, and its public id feeds the
idempotency key. That key covers only the retries of one call (the stripe
library repeating a request after a network error gets the same Checkout
Session back). Every submission of the form records a new intent, so a
double-clicked or resubmitted form opens a second session; the donor pays only
the one they complete, and the other expires.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    String,
    Table,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from newsletter import links, tokens
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.donations import amounts, donors
from newsletter.donations.checkout import (
    CheckoutConfig,
    IntentFacts,
    fee_to_cover,
    idempotency_key,
    session_params,
)
from newsletter.donations.events import DonationEvent
from newsletter.donations.gateway import CheckoutSession, Gateway
from newsletter.donations.models import DonationIntent
from newsletter.donations.returning import Returned, returned
from newsletter.donations.states import Frequency, IntentStatus
from newsletter.errors import NewsletterError, TokenError
from subscribers.models import Subscriber


class InvalidDonation(NewsletterError, ValueError):
    """A donate form that cannot become a Checkout Session (missing Gift Aid details...)."""


@dataclass(frozen=True)
class Attribution:
    campaign_id: int | None = None
    subscriber_id: int | None = None


def attribution(settings: Settings, token: str | None) -> Attribution:
    """Who sent this donor and from which campaign; nothing when the token is bad or absent."""
    if not token:
        return Attribution()
    try:
        payload = tokens.verify(settings.secret, links.DONATE, token)
    except TokenError:
        return Attribution()
    campaign, subscriber = payload.get("c"), payload.get("s")
    return Attribution(
        campaign_id=campaign if isinstance(campaign, int) else None,
        subscriber_id=subscriber if isinstance(subscriber, int) else None,
    )


@dataclass(frozen=True)
class DonationForm:
    """The donate form, already parsed into minor units and checked against the limits."""

    amount_minor: int
    frequency: Frequency
    note: str = ""
    cover_fees: bool = False
    gift_aid: bool = False
    gift_aid_name: str = ""
    gift_aid_address: str = ""
    gift_aid_postcode: str = ""


def parse_form(settings: Settings, fields: dict[str, Any]) -> DonationForm:
    """Validate the submitted fields; raises ``InvalidAmount``/``InvalidDonation``."""
    currency = settings.currency
    typed = str(fields.get("other_amount") or "").strip()
    choice = str(fields.get("amount") or "")
    # a typed amount wins over a preset: donors click a button, then change their mind
    text = typed or ("" if choice == "other" else choice)
    if not text.strip():
        raise amounts.InvalidAmount("please choose or enter an amount")
    minor = amounts.check(
        amounts.parse(text, currency), currency, settings.donation_min, settings.donation_max
    )
    frequency = str(fields.get("frequency") or "once")
    if frequency not in (Frequency.ONCE, Frequency.MONTHLY):
        raise InvalidDonation("please choose one-time or monthly")
    gift_aid = settings.gift_aid and bool(fields.get("gift_aid"))
    form = DonationForm(
        amount_minor=minor,
        frequency=Frequency(frequency),
        note=str(fields.get("note") or "")[:1000],
        cover_fees=settings.cover_fees and bool(fields.get("cover_fees")),
        gift_aid=gift_aid,
        gift_aid_name=str(fields.get("gift_aid_name") or "").strip()[:200],
        gift_aid_address=str(fields.get("gift_aid_address") or "").strip()[:1000],
        gift_aid_postcode=str(fields.get("gift_aid_postcode") or "").strip().upper()[:20],
    )
    if gift_aid and not (form.gift_aid_name and form.gift_aid_address and form.gift_aid_postcode):
        raise InvalidDonation("for Gift Aid we need your full name, home address and postcode")
    return form


def fee_for(settings: Settings, amount_minor: int) -> int:
    return fee_to_cover(
        amount_minor, settings.currency, settings.donation_fee_percent, settings.donation_fee_fixed
    )


def record(
    sessions: sessionmaker[Session], settings: Settings, form: DonationForm, who: Attribution
) -> tuple[IntentFacts, int]:
    """Store the intent (committed) and return what Checkout needs plus the row id."""
    fee = fee_for(settings, form.amount_minor) if form.cover_fees else 0
    with transaction(sessions) as session:
        subscriber = session.get(Subscriber, who.subscriber_id) if who.subscriber_id else None
        intent = DonationIntent(
            public_id="di_" + secrets.token_urlsafe(18),
            amount_minor=form.amount_minor,
            fee_minor=fee,
            currency=settings.currency.lower(),
            frequency=form.frequency,
            campaign_id=who.campaign_id,
            subscriber_id=subscriber.id if subscriber else None,
            note=form.note,
            status=IntentStatus.CREATED,
            gift_aid=form.gift_aid,
            gift_aid_name=form.gift_aid_name,
            gift_aid_address=form.gift_aid_address,
            gift_aid_postcode=form.gift_aid_postcode,
            gift_aid_wording=settings.gift_aid_wording if form.gift_aid else "",
            gift_aid_version=settings.gift_aid_version if form.gift_aid else "",
        )
        session.add(intent)
        session.flush()
        facts = IntentFacts(
            public_id=intent.public_id,
            amount_minor=form.amount_minor + fee,
            currency=intent.currency,
            frequency=form.frequency,
            campaign_id=intent.campaign_id,
            subscriber_id=intent.subscriber_id,
            email=subscriber.email if subscriber else "",
        )
        return facts, intent.id


def start_checkout(
    sessions: sessionmaker[Session],
    settings: Settings,
    gateway: Gateway,
    form: DonationForm,
    who: Attribution,
) -> CheckoutSession:
    """Record the intent, create its Checkout Session, remember the session id."""
    facts, intent_id = record(sessions, settings, form, who)
    checkout = gateway.create_checkout_session(
        session_params(facts, CheckoutConfig.from_settings(settings)),
        idempotency_key=idempotency_key(facts),
    )
    with transaction(sessions) as session:
        intent = session.get(DonationIntent, intent_id)
        if intent is not None:
            intent.checkout_session_id = checkout.id
            if intent.status == IntentStatus.CREATED:
                intent.status = IntentStatus.OPEN
    return checkout


# -- the intent a Stripe event names ------------------------------------------------

INTENTS: Table = DonationIntent.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class IntentRow:
    id: int
    campaign_id: int | None
    subscriber_id: int | None
    # the subscriber the gift is from (``donors.named_or_by_address``), when asked for
    donor_id: int | None = None


_INTENT_COLUMNS = (INTENTS.c.id, INTENTS.c.campaign_id, INTENTS.c.subscriber_id)
_INTENT_LOCK = (
    select(*_INTENT_COLUMNS).where(INTENTS.c.public_id == bindparam("p_pid")).with_for_update()
)
# Built once, values as parameters (the webhook's busy path runs it per gift). A
# completed intent stays completed: a late "expired" or "failed" cannot undo a gift.
_INTENT_MOVE = (
    update(INTENTS)
    .where(INTENTS.c.public_id == bindparam("p_pid"))
    .values(
        status=case(
            (INTENTS.c.status == IntentStatus.COMPLETED.value, INTENTS.c.status),
            else_=bindparam("p_status", type_=String()),
        ),
        checkout_session_id=func.coalesce(
            INTENTS.c.checkout_session_id, bindparam("p_cs", type_=String())
        ),
    )
    .returning(*_INTENT_COLUMNS)
)
_DONOR = donors.named_or_by_address(
    INTENTS.c.subscriber_id, bindparam("p_key", type_=String()), INTENTS
)
_INTENT_LOCK_DONOR = _INTENT_LOCK.add_columns(_DONOR)
_INTENT_MOVE_DONOR = _INTENT_MOVE.returning(_DONOR)


def intent_row(
    session: Session,
    event: DonationEvent,
    status: IntentStatus | None = None,
    *,
    donor: bool = False,
) -> IntentRow | None:
    """Our donation intent named by ``event`` (locked), moved to ``status`` if given;
    None when the event names none of ours (another integration's, say). The one
    place the webhook loads an intent. With ``donor`` the same statement also finds
    the subscriber the gift is from (``IntentRow.donor_id``)."""
    if not event.donation_intent:
        return None
    conn = session.connection()
    params = {"p_pid": event.donation_intent, "p_key": donors.email_key(event.email)}
    if status is None:
        row = conn.execute(_INTENT_LOCK_DONOR if donor else _INTENT_LOCK, params).first()
    else:
        params |= {"p_status": str(status), "p_cs": event.object_id}
        row = conn.execute(_INTENT_MOVE_DONOR if donor else _INTENT_MOVE, params).first()
    if row is None:
        return None
    return IntentRow(row[0], row[1], row[2], row[3] if donor else None)


@dataclass(frozen=True)
class Extras:
    """What the donor added to the gift on our form: a card fee covered, a Gift Aid
    declaration (its wording as shown, and the donor's name, address and postcode)."""

    fee_minor: int
    gift_aid: bool
    wording: str
    name: str
    address: str
    postcode: str


_EXTRAS_COLUMNS = (
    INTENTS.c.fee_minor,
    INTENTS.c.gift_aid,
    INTENTS.c.gift_aid_wording,
    INTENTS.c.gift_aid_name,
    INTENTS.c.gift_aid_address,
    INTENTS.c.gift_aid_postcode,
)
_INTENT_EXTRAS = select(*_EXTRAS_COLUMNS).where(INTENTS.c.id == bindparam("p_intent"))


def extras_columns(intent_id: ColumnElement[Any], outer: FromClause | None) -> list[Returned]:
    """The extras of the intent ``intent_id`` names, as columns another statement returns
    (the gift's own INSERT reads them, saving the webhook a query per gift); read
    them back with ``extras_from``."""
    named = INTENTS.alias("named")
    return [
        returned(select(named.c[column.name]).where(named.c.id == intent_id), outer)
        for column in _EXTRAS_COLUMNS
    ]


def extras_from(row: Sequence[Any]) -> Extras | None:
    """``Extras`` from the values of ``extras_columns`` (None: no intent of ours)."""
    if row[1] is None:  # gift_aid is never NULL on a stored intent
        return None
    return Extras(int(row[0] or 0), bool(row[1]), row[2], row[3], row[4], row[5])


def extras(session: Session, intent_id: int | None) -> Extras | None:
    """The fee and declaration of intent ``intent_id`` (a receipt states them)."""
    if intent_id is None:
        return None
    row = session.connection().execute(_INTENT_EXTRAS, {"p_intent": intent_id}).first()
    return extras_from(row) if row is not None else None
