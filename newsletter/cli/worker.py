"""``newsletter worker``, and the foreground sender with its progress bar.

SIGTERM and Ctrl-C set a stop event instead of killing the process: the message in
flight is finished, the rest of the claimed batch is given back to the ledger, and
the command exits cleanly. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Engine

from newsletter import startup, wiring
from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.pool import ComposePool
from newsletter.campaigns.progress import BatchReport
from newsletter.campaigns.states import RecipientState
from newsletter.cli.common import console, err_console, settings
from newsletter.config import Settings
from newsletter.worker_factory import build_worker


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not to the one that was
    current when the handler was made (which a caller may have closed since)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def log_to_stderr() -> None:
    """Worker news (an outage and its end, a relay unavailable) as one line each on stderr."""
    logger = logging.getLogger("newsletter")
    if not logger.handlers:
        handler = _Stderr(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or the first SIGINT; handlers restored afterwards."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        err_console.print("stopping after the message in flight...")
        stop.set()

    old_term = signal.signal(signal.SIGTERM, handler)
    old_int = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def run_with_progress(
    cfg: Settings,
    campaign_id: int,
    *,
    batch: int = 200,
    engine: Engine | None = None,
    helpers: ComposePool | None = None,
) -> None:
    """Send one campaign in this process until nothing is due, showing a progress bar.

    ``engine`` and ``helpers``: already opened or started by the caller."""
    engine = engine or wiring.engine(cfg)
    ledger = Ledger(engine)
    counts = ledger.counts(campaign_id)
    total = sum(counts.values())
    settled = counts[RecipientState.SENT] + counts[RecipientState.FAILED]
    settled += counts[RecipientState.SKIPPED]
    progress = Progress(
        TextColumn("[bold]campaign {task.fields[cid]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sent {task.fields[sent]:,}  failed {task.fields[failed]:,}"),
        TextColumn("{task.fields[rate]:,.0f} msg/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress, stop_on_signals() as stop:
        task = progress.add_task(
            "send",
            total=total,
            completed=settled,
            cid=campaign_id,
            sent=counts[RecipientState.SENT],
            failed=counts[RecipientState.FAILED],
            rate=0.0,
        )

        started = time.monotonic()
        sent_here = 0

        def on_batch(report: BatchReport) -> None:
            nonlocal sent_here
            fields = progress.tasks[0].fields
            sent_here += report.sent
            done = report.sent + report.failed + report.skipped
            progress.update(
                task,
                advance=done,
                sent=fields["sent"] + report.sent,
                failed=fields["failed"] + report.failed,
                rate=sent_here / max(1e-6, time.monotonic() - started),
            )

        worker = build_worker(
            cfg, batch=batch, stop=stop, on_batch=on_batch, engine=engine, pool=helpers
        )
        worker.run(once=True, campaign_ids=[campaign_id])


def bounce_collection(
    cfg: Settings, stop: threading.Event, *, once: bool
) -> threading.Thread | None:
    """Read the bounce mailbox (NEWSLETTER_BOUNCE_MAILBOX) now and on a schedule while
    the worker runs, when no other process is reading it; with --once, read it once.
    None when no mailbox is set up."""
    from newsletter.campaigns.worker import default_owner
    from newsletter.results.collection import Collector, release

    if not cfg.bounce_mailbox:
        return None
    collector = Collector(cfg, wiring.sessions(cfg), holder=default_owner())
    if once:
        try:
            collector.tick()
        finally:
            release(collector.sessions, collector.holder)
        return None
    return collector.start(stop)


def register(app: typer.Typer) -> None:
    """Add ``newsletter worker`` to the top-level app."""

    @app.command()
    def worker(
        once: bool = typer.Option(False, "--once", help="Exit when nothing is due now."),
        batch: int = typer.Option(200, "--batch", min=1, help="Rows claimed at a time."),
        lease: float = typer.Option(
            300.0, "--lease", min=1.0, help="Seconds before another worker may take rows over."
        ),
        processes: int | None = typer.Option(
            None,
            "--processes",
            min=-1,
            help="Helper processes that compose and DKIM-sign (-1: one per CPU core but one, "
            "at least one; 0: none). Default: NEWSLETTER_SEND_PROCESSES (-1).",
        ),
    ) -> None:
        """Send every due campaign; run several on PostgreSQL to share the work."""
        cfg = settings()
        startup.refuse_unsafe(cfg)  # its mails carry signed links
        log_to_stderr()
        with stop_on_signals() as stop:
            collecting = bounce_collection(cfg, stop, once=once)
            running = build_worker(
                cfg, batch=batch, lease_seconds=lease, stop=stop, processes=processes
            )
            if not once:
                console.print(f"worker {running.owner} started; Ctrl-C stops it cleanly")
            stats = running.run(once=once)
            if collecting is not None:
                stop.set()
                collecting.join()
        console.print(
            f"worker {running.owner}: {stats.sent} sent, {stats.failed} failed, "
            f"{stats.deferred} deferred, {stats.skipped} skipped in {stats.batches} batches",
            highlight=False,
        )
        for campaign_id in stats.stopped_campaigns:
            err_console.print(
                f"campaign {campaign_id} stopped: see `newsletter campaign status {campaign_id}`"
            )
