"""Stripe webhook handling: verify the signature, parse, apply once, then send receipts.

The flow reads like django-anymail's base view: ``verify`` (Stripe's v1 HMAC
scheme, a timestamp tolerance, any of several signatures so secrets can be
rotated), ``parse`` (``events.parse`` to one ``DonationEvent``), ``dispatch``
(``dispatch.dispatch``). The event id is inserted first in the same transaction as the
effect, with ``ON CONFLICT DO NOTHING``: a duplicate inserts nothing and changes
nothing, a concurrent twin waits for the first delivery and then does the same,
and any failure rolls the whole transaction back, so nothing is half-recorded.
On PostgreSQL that same statement first takes the payment's advisory locks, and the
event is stored with the outcome it usually has: a gift costs BEGIN, the event, the
intent (or monthly gift), the gift and COMMIT, five round trips.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import stripe
from sqlalchemy import BigInteger, Table, bindparam, cast, column, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.database import transaction, writer
from newsletter.donations.dispatch import dispatch, likely_outcome
from newsletter.donations.events import (
    DISPUTE_KINDS,
    DonationEvent,
    Kind,
    parse,
)
from newsletter.donations.gateway import Gateway
from newsletter.donations.gifts import Effect, payment_keys
from newsletter.donations.models import Gift, StripeEventRecord
from newsletter.donations.receipts.content import Receipt
from newsletter.donations.receipts.delivery import ReceiptSender, deliver_claimed
from newsletter.errors import NewsletterError
from subscribers.orm import utcnow

log = logging.getLogger(__name__)
TOLERANCE = 300  # seconds, Stripe's own default
EVENTS: Table = StripeEventRecord.__table__  # type: ignore[assignment]
_EVENT_COLUMNS = ("event_id", "type", "created", "livemode", "outcome", "received_at")
_KEYS = postgresql.ARRAY(BigInteger)
# The payment's advisory locks (``gifts.lock_payment``), taken in key order: the row
# the INSERT needs comes out only once the aggregate has run the whole lock scan.
_LOCKED = (
    select(func.count())
    .select_from(
        select(func.pg_advisory_xact_lock(column("k")))
        .select_from(func.unnest(cast(bindparam("p_keys", type_=_KEYS), _KEYS)).alias("k"))
        .subquery()
    )
    .scalar_subquery()
)
_EVENT_INSERT = {
    "postgresql": postgresql.insert(EVENTS)
    .from_select(
        _EVENT_COLUMNS,
        select(*(bindparam(c, type_=EVENTS.c[c].type) for c in _EVENT_COLUMNS)).where(_LOCKED >= 0),
    )
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(EVENTS.c.id),
    "sqlite": sqlite.insert(EVENTS)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(EVENTS.c.id),
}
_EVENT_OUTCOME = update(EVENTS).where(EVENTS.c.id == bindparam("p_id"))
_ATTEMPTS = 4


class WebhookRejected(NewsletterError, ValueError):
    """A request that is not a genuine, usable Stripe event: answer 400, never retried."""


@dataclass
class Result:
    """What happened to one delivery; ``duplicate`` deliveries changed nothing."""

    event_id: str
    type: str
    outcome: str
    duplicate: bool = False
    new_gifts: list[int] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


def verify(payload: bytes, header: str | None, secrets: Sequence[str], tolerance: int) -> None:
    """Raise ``WebhookRejected`` unless one of ``secrets`` signed ``payload`` recently."""
    if not header:
        raise WebhookRejected("missing Stripe-Signature header")
    if not secrets:
        raise WebhookRejected("no webhook secret configured")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("body is not UTF-8") from None
    problem = ""
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
            return
        except stripe.SignatureVerificationError as exc:
            problem = str(exc.user_message or exc)
    raise WebhookRejected(f"signature not valid: {problem}")


def load(payload: bytes) -> Any:
    """The body's JSON (parsed once: the web app also checks it for review); a body
    nested too deeply for the parser raises ``RecursionError``."""
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise WebhookRejected(f"body is not a Stripe event: {exc}") from None


def event_of(data: Any) -> DonationEvent:
    try:
        return parse(data if isinstance(data, dict) else {})
    except ValueError as exc:  # MalformedEvent is one too
        raise WebhookRejected(f"body is not a Stripe event: {exc}") from None


def decode(payload: bytes) -> DonationEvent:
    return event_of(load(payload))


def expected_livemode(secret_key: str | None) -> bool:
    """Live events for live keys (``sk_live_``/``rk_live_``), test events otherwise."""
    return bool(secret_key) and "_live_" in (secret_key or "")[:8]


class WebhookProcessor:
    """Verifies and applies Stripe events; the receipt sender is the only outside effect."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        secrets: Sequence[str],
        livemode: bool,
        receipts: ReceiptSender | None = None,
        tolerance: int = TOLERANCE,
        invoice_paid_by: Callable[[str], str] | None = None,
    ) -> None:
        """``invoice_paid_by`` finds the invoice a payment intent paid (Stripe's API)."""
        self.sessions = sessions
        self.invoice_paid_by = invoice_paid_by
        self.secrets = [s for s in secrets if s]
        self.livemode = livemode
        self.receipts = receipts
        self.tolerance = tolerance
        # SQLite has one writer at a time, and a writer that finds the file locked
        # sleeps in steps of milliseconds: queue this process's writers on a mutex.
        self._writer = writer(sessions.kw.get("bind"))

    def handle(self, payload: bytes, signature: str | None, *, receipts: bool = True) -> Result:
        """One HTTP delivery: raises ``WebhookRejected`` (400); any other error means 5xx.

        With ``receipts=False`` the caller sends them later (``send_receipts``), e.g.
        after answering Stripe, which wants its 2xx quickly.
        """
        verify(payload, signature, self.secrets, self.tolerance)
        return self.accept(load(payload), receipts=receipts)

    def accept(self, data: Any, *, receipts: bool = True) -> Result:
        """Apply the JSON of a delivery whose signature ``verify`` has accepted."""
        event = event_of(data)
        if event.livemode != self.livemode:
            mode = "live" if event.livemode else "test"
            raise WebhookRejected(f"a {mode}-mode event does not match the configured key")
        return self.process(event, receipts=receipts)

    def process(self, event: DonationEvent, *, receipts: bool = True) -> Result:
        """Apply ``event`` exactly once (also used by reconcile), then send new receipts.

        Raises ``PaymentProviderError`` if Stripe cannot say which invoice a refunded
        payment paid: nothing is recorded then, and Stripe's retry (or reconcile)
        applies it later.
        """
        result = self._apply_once(self._with_invoice(event))
        if receipts:
            self.send_receipts(result)
        return result

    def _with_invoice(self, event: DonationEvent) -> DonationEvent:
        """A refund or dispute of a monthly instalment, with the invoice it paid.

        Since API version 2025-03-31.basil neither an invoice nor a charge names the
        other, and an instalment's gift is stored by invoice: its refund could not
        find it. Stripe is asked at refund time, which is rare, rather than on every
        ``invoice.paid``, which is not (and so the monthly gifts themselves never
        wait on Stripe's API). A payment that already has its gift needs no question.
        """
        if (
            not (event.kind is Kind.CHARGE_REFUNDED or event.kind in DISPUTE_KINDS)
            or event.invoice_id
            or not event.payment_intent_id
            or self.invoice_paid_by is None
            or self.seen(event.event_id)
            or self._has_gift(event.payment_intent_id)
        ):
            return event
        return replace(event, invoice_id=self.invoice_paid_by(event.payment_intent_id))

    def _has_gift(self, payment_intent_id: str) -> bool:
        with self.sessions() as session:
            found = session.scalar(
                select(Gift.id).where(Gift.payment_intent_id == payment_intent_id).limit(1)
            )
        return found is not None

    def send_receipts(self, result: Result) -> None:
        """Receipts for the gifts ``result`` recorded; a failure leaves them pending
        (``donations reconcile`` sends them later)."""
        if result.receipts and self.receipts is not None:
            deliver_claimed(self.sessions, self.receipts, result.receipts)

    def _apply_once(self, event: DonationEvent) -> Result:
        for attempt in range(_ATTEMPTS):
            try:
                with self._writer, transaction(self.sessions) as session:
                    effect = apply_new(session, event, claim_receipts=self.receipts is not None)
                    if effect is None:
                        return Result(event.event_id, event.type, "already processed", True)
                return Result(
                    event.event_id,
                    event.type,
                    effect.outcome,
                    False,
                    effect.new_gifts,
                    effect.receipts,
                )
            except IntegrityError:
                if self.seen(event.event_id):
                    return Result(event.event_id, event.type, "already processed", True)
                if attempt == _ATTEMPTS - 1:
                    raise  # another event raced us for the same gift; Stripe will retry
            except OperationalError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def seen(self, event_id: str) -> bool:
        with self.sessions() as session:
            found = session.scalar(
                select(StripeEventRecord.id).where(StripeEventRecord.event_id == event_id)
            )
        return found is not None


def apply_new(session: Session, event: DonationEvent, *, claim_receipts: bool) -> Effect | None:
    """Record ``event`` and apply it in the caller's transaction; None if it is recorded
    already (a duplicate: nothing changed).

    The first statement is the write: SQLite takes its write lock here, PostgreSQL
    takes the payment's locks and makes a concurrent twin wait on the unique index,
    then insert nothing once the first delivery has committed.
    """
    conn = session.connection()
    expected = likely_outcome(event)
    values = {
        "event_id": event.event_id,
        "type": event.type,
        "created": event.created,
        "livemode": event.livemode,
        "outcome": expected,
        "received_at": utcnow(),
    }
    if conn.dialect.name == "postgresql":
        values["p_keys"] = payment_keys(event)
    record_id = conn.execute(_EVENT_INSERT[conn.dialect.name], values).scalar()
    if record_id is None:
        return None
    effect = dispatch(session, event, claim_receipts=claim_receipts)
    if effect.outcome[:200] != expected:
        conn.execute(_EVENT_OUTCOME, {"p_id": record_id, "outcome": effect.outcome[:200]})
    return effect


def processor_for(
    settings: Settings,
    sessions: sessionmaker[Session],
    receipts: ReceiptSender | None,
    gateway: Gateway | None,
) -> WebhookProcessor | None:
    """The processor for these settings; None while no webhook secret is configured."""
    secret = settings.stripe_webhook_secret
    if secret is None or not secret.get_secret_value().strip():
        return None
    key = settings.stripe_secret_key
    return WebhookProcessor(
        sessions,
        secrets=[s.strip() for s in secret.get_secret_value().split(",")],
        livemode=expected_livemode(key.get_secret_value() if key else None),
        receipts=receipts if settings.donation_receipts else None,
        invoice_paid_by=gateway.invoice_paid_by if gateway is not None else None,
    )
