"""The ``newsletter serve`` command: the public web app under uvicorn, and the sending loop.

Unless ``--no-worker`` is given, the command also sends due campaigns from a thread
of its own process, so a single machine needs nothing else running for a scheduled
briefing to go out. That loop is a standby: it leaves a campaign to a live
``newsletter worker`` (on SQLite there must be exactly one sender) and picks up one
that has had no live worker for longer than a lease.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from newsletter import startup
from newsletter.cli.common import console, settings
from newsletter.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("newsletter.campaigns.worker")

RESTART_AFTER = 30.0  # seconds before the loop starts again after an unexpected error


@contextmanager
def sending_loop(
    cfg: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    wait: Callable[[float], object] | None = None,
) -> Iterator[None]:
    """Send due campaigns from a thread while the body runs; stop cleanly after it.

    Like ``newsletter worker``, it also reads the bounce mailbox every ``COLLECT_EVERY``
    seconds while no other process holds the collection lease. ``clock`` and ``wait``
    (the pause between two reads) are for tests."""
    from newsletter import wiring
    from newsletter.campaigns import heartbeat
    from newsletter.cli.worker import log_to_stderr
    from newsletter.results.collection import Collector
    from newsletter.worker_factory import build_worker

    log_to_stderr()
    stop = threading.Event()
    worker = build_worker(cfg, stop=stop, standby=True)
    if worker.pool is not None:
        worker.pool.start()  # fork the helpers now, before uvicorn starts its threads
    # Seen alive before the first page is served, so `campaign status` never calls a
    # campaign unattended while serve is starting.
    heartbeat.beat(
        worker.ledger.engine, worker.owner, lease_seconds=worker.lease_seconds, standby=True
    )

    def run() -> None:
        while not stop.is_set():
            try:
                worker.run()
            except Exception:  # the web app must outlive a failure of the sending loop
                log.exception("the sending loop failed; it starts again in %.0f s", RESTART_AFTER)
                stop.wait(RESTART_AFTER)

    thread = threading.Thread(target=run, name="sending-loop", daemon=True)
    thread.start()
    collecting = None
    if cfg.bounce_mailbox:
        collector = Collector(cfg, wiring.sessions(cfg), holder=worker.owner)
        if clock is not None:
            collector.clock = clock
        collecting = collector.start(stop, wait)
    try:
        yield
    finally:
        stop.set()
        thread.join(60.0)  # the message in flight finishes, the rest is given back
        if collecting is not None:
            collecting.join(60.0)


def serving_app() -> FastAPI:
    """The web app as uvicorn serves it (in each worker process).

    Everything made up to here (modules, routes, templates) lives as long as the process,
    yet a full garbage collection walked all of it: with clicks held in memory for their
    burst window, full passes came every few seconds and each stalled every request
    in flight. Frozen, those objects are left out of every pass."""
    from newsletter.web.app import create_app

    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def register(app: typer.Typer) -> None:
    """Add this command to the top-level app."""

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
        workers: int = typer.Option(1, min=1, help="Worker processes."),
        access_log: bool = typer.Option(
            False, "--access-log", help="Log every request (off: it costs CPU per request)."
        ),
        sender: bool = typer.Option(
            True,
            "--worker/--no-worker",
            help="Also send due campaigns from this process (off: run `newsletter worker`).",
        ),
    ) -> None:
        """Serve the subscribe, confirm, preferences, unsubscribe and donation pages."""
        import uvicorn

        from newsletter import database

        config = settings()
        startup.refuse_unsafe(config)
        if config.uses_demo_secret:
            console.print(
                "[yellow]warning:[/] NEWSLETTER_SECRET_KEY is the demo value; "
                "set a long random secret before real use."
            )
        if not config.trusted_proxies and not startup.is_loopback(config.public_base_url):
            console.print(
                "note: NEWSLETTER_TRUSTED_PROXIES is empty, so behind a proxy every reader "
                "shares one rate limit; see docs/deployment.md",
                highlight=False,
            )
        # Upgrade the schema once here, so several workers never race the migrations.
        database.open_database(config.database_url).dispose()
        console.print(f"subscribe page: http://{host}:{port}/subscribe")
        if sender:
            console.print("due campaigns are sent from this process (--no-worker: not)")
        with sending_loop(config) if sender else _nothing():
            uvicorn.run(
                "newsletter.cli.serve:serving_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                proxy_headers=False,  # NEWSLETTER_TRUSTED_PROXIES decides (web/clientip.py)
                log_level="info",
                access_log=access_log,
            )


@contextmanager
def _nothing() -> Iterator[None]:
    yield
