"""Riding out a database outage in a worker: hold outcomes, reconnect, write them, go on.

A PostgreSQL restart (a minor upgrade, a fail-over) drops every connection for a few
seconds. The messages a worker has already handed to the relay were delivered, so
their outcomes must reach the ledger, or the rows would be claimed and mailed again
once their lease ends. So the worker holds those outcomes in memory, stops claiming,
and probes the database with capped, jittered back-off; the first probe that gets
through writes what it held, gives back any rows it still has claimed, and the
worker carries on. Staff see one log line when the outage starts and one when it
ends, never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import cast

from sqlalchemy import Table, select

from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.models import CampaignRecipient
from newsletter.campaigns.states import RecipientState
from newsletter.campaigns.throttle import backoff
from newsletter.database import first_line

log = logging.getLogger("newsletter.campaigns.worker")

FIRST_RETRY = 0.5  # seconds before the first reconnection attempt, doubled each time
RETRY_CAP = 15.0  # never more than this between attempts


class Reconnect:
    """Waits out one outage at a time; ``probe`` raises while the database is away."""

    def __init__(
        self,
        stop: threading.Event,
        *,
        first: float = FIRST_RETRY,
        cap: float = RETRY_CAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stop, self.first, self.cap, self.clock = stop, first, cap, clock
        self.outages = 0
        self.last_outage_seconds = 0.0

    def wait(
        self,
        error: BaseException,
        probe: Callable[[], int],
        held: Callable[[], int],
        lost: Callable[[BaseException], bool],
    ) -> bool:
        """Retry ``probe`` until it passes (True) or the worker is told to stop (False).

        ``probe`` returns how many held outcomes it wrote; ``held`` how many are held;
        an error from ``probe`` that is not an outage (``lost``) is raised at once.
        """
        began = self.clock()
        self.outages += 1
        log.warning(
            "database unavailable (%s): sending paused, %d outcome(s) held; reconnecting",
            first_line(error),
            held(),
        )
        attempt = 0
        while True:
            attempt += 1
            if self.stop.wait(backoff(attempt, base=self.first, cap=self.cap)):
                log.warning(
                    "stopping while the database is unavailable: %d outcome(s) not written; "
                    "those rows are sent again once their lease ends",
                    held(),
                )
                return False
            try:
                written = probe()
            except Exception as exc:
                if not lost(exc):
                    raise
                continue
            self.last_outage_seconds = self.clock() - began
            log.warning(
                "database back after %.1f s: %d held outcome(s) written; sending resumed",
                self.last_outage_seconds,
                written,
            )
            return True


def still_claimed(ledger: Ledger, owner: str) -> list[int]:
    """Rows ``owner`` holds in the ledger (claimed, being sent), by id."""
    rows = cast(Table, CampaignRecipient.__table__)
    with ledger.engine.connect() as conn:
        return list(
            conn.scalars(
                select(rows.c.id).where(
                    rows.c.lease_owner == owner, rows.c.state == RecipientState.SENDING
                )
            )
        )
