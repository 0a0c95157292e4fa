"""A refund and its payment applied at the same moment, in two real PostgreSQL transactions
(each recorded as the webhook records it: the event's statement takes the payment's locks)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations.events import parse
from newsletter.donations.gifts import lock_key
from newsletter.donations.states import GiftStatus
from newsletter.donations.webhook import apply_new
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import gifts, start

_WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND ((classid::bigint << 32) | objid::bigint) = :key"
)


def _wait_until_blocked(engine: Engine, key: int) -> None:
    """Until the second transaction waits on the first one's lock (or a few seconds pass:
    without the lock nothing ever waits, and the final state shows the race)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    deadline = time.monotonic() + 5
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(_WAITING, {"key": unsigned}).scalar():
                return
            conn.rollback()
            time.sleep(0.01)


@pytest.mark.backend("postgresql")  # SQLite has one writer: its transactions cannot interleave
@pytest.mark.parametrize("refund_first", [True, False])
def test_concurrent_refund_and_payment_leave_the_refund_applied(
    engine: Engine,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    refund_first: bool,
) -> None:
    sid = start(sessions, stripe_settings, fake_stripe, amount=3000)
    session = fake_stripe.pay(sid)
    pi = session["payment_intent"]
    refund = parse(
        fake_stripe.event("charge.refunded", fake_stripe.charge(pi, 3000, refunded=3000))
    )
    paid = parse(fake_stripe.event("checkout.session.completed", session))
    first_event, second_event = (refund, paid) if refund_first else (paid, refund)
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with sessions() as other, other.begin():
                apply_new(other, second_event, claim_receipts=False)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    with sessions() as first, first.begin():
        apply_new(first, first_event, claim_receipts=False)  # not committed yet
        thread = threading.Thread(target=second)
        thread.start()
        _wait_until_blocked(engine, lock_key(pi))
    thread.join(timeout=30)
    assert not thread.is_alive() and failures == []
    [gift] = gifts(sessions)
    assert (gift.status, gift.refunded_minor) == (GiftStatus.REFUNDED, 3000)
