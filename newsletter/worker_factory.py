"""Builds a ready-to-run campaign ``Worker`` from settings: its adapters, composers and helpers.

Wiring, not domain: the commands that send (``newsletter worker``, ``newsletter serve``)
call it; the worker itself only gets what is built here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from newsletter import database, helper_wiring, wiring
from newsletter.campaigns.ledger import Claimed, Ledger
from newsletter.campaigns.pool import ComposePool
from newsletter.campaigns.progress import BatchReport
from newsletter.campaigns.retry import RetryPolicy
from newsletter.campaigns.worker import Worker
from newsletter.config import Settings
from newsletter.mail.transports.base import Delivery, Transport


def build_worker(
    settings: Settings,
    *,
    batch: int = 200,
    lease_seconds: float = 300.0,
    stop: threading.Event | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    owner: str | None = None,
    processes: int | None = None,
    standby: bool = False,
    engine: Engine | None = None,
    pool: ComposePool | None = None,
) -> Worker:
    """``processes``: helper processes composing and signing (None: the setting,
    -1: one per CPU core, 0: none, everything in this process). ``standby``: the loop
    inside ``newsletter serve`` (it leaves campaigns to live dedicated workers).
    ``engine`` and ``pool``: ones the caller already opened or started (``campaign
    send`` starts its helpers before it fills the ledger)."""
    engine = engine or wiring.engine(settings)
    sessions = database.session_factory(engine)

    def transport() -> Transport:
        return wiring.transport(settings)

    def bounce_sink(campaign_id: int, failures: Sequence[tuple[Claimed, Delivery]]) -> None:
        from newsletter.campaigns.bounces import process  # bounce parsing: only when one comes

        with database.transaction(sessions) as session:
            process.apply(session, settings, process.events_from_smtp(campaign_id, failures))

    return Worker(
        Ledger(engine),
        composer_for=wiring.campaign_composers(settings, sessions),
        transport_factory=transport,
        owner=owner,
        batch=batch,
        lease_seconds=lease_seconds,
        rate=settings.send_rate,
        connections=settings.smtp_connections,
        retry=RetryPolicy(limit=settings.send_retry_limit, delay=settings.send_retry_delay),
        bounce_sink=bounce_sink,
        stop=stop,
        on_batch=on_batch,
        pool=pool or compose_pool(settings, processes),
        standby=standby,
    )


def compose_pool(settings: Settings, processes: int | None = None) -> ComposePool | None:
    """The helper processes for composing, or None to compose in the sending process.

    By default (-1) one per core but one, and at least one: the sending process keeps a
    core for its own share of each copy (the ledger and the SMTP connections, about a
    third of a copy's CPU). On two cores a second helper sent no faster and cost 35 MB
    (``bench/send.py --processes``)."""
    wanted = settings.send_processes if processes is None else processes
    if wanted < 0:
        wanted = max(1, (os.cpu_count() or 1) - 1)
    if wanted <= 0:
        return None
    return ComposePool(settings, wanted, composers=helper_wiring.campaign_composers)
