"""Composing and DKIM-signing copies in a few helper processes.

An RSA-2048 signature is the costliest step of a copy (``bench/send.py`` prints what
one takes on this machine), and a Python process runs
its CPU work on one core at a time; composing in the sending process also makes its
SMTP threads wait for the interpreter lock after every reply. So the sending process
keeps the ledger and the SMTP connections, and ``ComposePool`` hands claimed rows, a
few at a time, to helper processes that each build a campaign's composer once (the
rendered digest, identity and signer) and return finished messages, in order.

The helpers are never forked from the sending process itself: it runs threads (SMTP
connections, the web server in ``newsletter serve``), and a fork copies whatever lock one
of them held at that instant. Where the platform has it (Linux, macOS) a fork server is
started fresh once, imports the composing code, and forks the helpers from itself, a
process with one thread: start-up stays quick and the imported code is shared. Elsewhere
the helpers are started fresh (``spawn``). Each opens its own database pool. They ignore
Ctrl-C: the sending process decides when to stop, and gives back whatever was composed
but not sent.

Starting costs a second interpreter its imports and each helper its campaign's composer
(the rendered digest, the DKIM key): ``start`` sets all of that going in the background,
so it runs while the sending process fills the ledger instead of after.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

from newsletter.errors import NewsletterError

if TYPE_CHECKING:  # imported where used: ``prestart`` runs before anything heavy is loaded
    from newsletter.campaigns.envelope import Composer, Envelope
    from newsletter.campaigns.ledger import Claimed
    from newsletter.config import Settings

Row = tuple[int, int, str, str, int, tuple[int, ...]]
ComposersFactory = Callable[["Settings"], Callable[[int], "Composer"]]
# A finished copy as it crosses the process boundary, or why it could not be made.
Made = tuple[str, str, bytes, str] | str
# What the fork server imports once, so that each helper forked from it starts ready: the
# composing code and the helpers' own wiring, nothing of the sending side (the worker,
# Alembic, the command line), which would only make every helper bigger.
PRELOAD = [
    "newsletter.campaigns.pool",
    "newsletter.campaigns.composer",
    "newsletter.helper_wiring",
]


def prestart() -> None:
    """Start the fork server now, while this process has imported little: its imports of
    the composing code then run beside this process's own, on another core. ``start``
    finds it running."""
    if start_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def start_context() -> BaseContext:
    """How helper processes start: from a single-threaded fork server, else fresh."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class ComposeUnavailable(NewsletterError):
    """A helper process died: the rows go back to the ledger, untried."""


class ComposePool:
    """Helper processes composing copies for the sending process; started on first use."""

    def __init__(
        self,
        settings: Settings,
        processes: int,
        *,
        composers: ComposersFactory,
        chunk: int = 12,
    ) -> None:
        """``composers`` builds, inside a helper, what makes each campaign's composer
        (``newsletter.wiring.campaign_composers``: a module-level function, as it is
        pickled to the helper)."""
        self.settings = settings
        self.composers = composers
        self.processes = max(1, processes)
        self.chunk = max(1, chunk)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._starting: threading.Thread | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=start_context(),
                    initializer=_start,
                    initargs=(self.settings, self.composers),
                )
            return self._executor

    def start(self, campaign_ids: Sequence[int] = ()) -> None:
        """Get the helpers under way now and return at once, so that their start overlaps
        this process's own work: the fork server is started, then a thread forks the
        helpers as soon as it has imported the composing code (forking one waits for
        that) and has each build the composers of ``campaign_ids``. Once only."""
        if self._starting is not None:
            return
        if start_context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()  # before any thread of ours: see the module's doc
        self._starting = threading.Thread(
            target=self._warm, args=(tuple(campaign_ids),), name="compose-start", daemon=True
        )
        self._starting.start()

    def _warm(self, campaign_ids: tuple[int, ...]) -> None:
        # A pool is only ever submitted to whole, so one task per helper starts them all.
        with contextlib.suppress(BrokenProcessPool, RuntimeError):  # closed meanwhile
            pool = self._pool()
            for _ in range(self.processes):
                pool.submit(_prepare, campaign_ids)

    def _joined(self) -> None:
        """Wait for ``start``'s thread: a pool is shut down only once it has been made."""
        starting = self._starting
        if starting is not None and starting is not threading.current_thread():
            starting.join()

    def compose(self, campaign_id: int, rows: Sequence[Claimed]) -> Composing:
        """Start composing ``rows`` now; the copies come back in the order of ``rows``."""
        return Composing(self, campaign_id, rows)

    def _discard(self) -> None:
        self._joined()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._joined()
        self._starting = None
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class Composing:
    """One batch's copies under way: a bounded number of chunks in flight at a time.

    The bound keeps memory at a few dozen messages however long the batch, and lets
    the next batch's first chunks queue right behind this one's.
    """

    def __init__(self, pool: ComposePool, campaign_id: int, rows: Sequence[Claimed]) -> None:
        self._pool = pool
        self._campaign_id = campaign_id
        size = pool.chunk
        self._chunks: deque[list[Row]] = deque(
            [
                (r.id, r.subscriber_id, r.email, r.name, r.attempts, r.topics)
                for r in rows[i : i + size]
            ]
            for i in range(0, len(rows), size)
        )
        self._pending: deque[Future[list[Made]]] = deque()
        self._ready: deque[Envelope | NewsletterError] = deque()
        self._window = pool.processes * 3
        self._broken: ComposeUnavailable | None = None
        self._fill()

    def _fill(self) -> None:
        try:
            while self._chunks and len(self._pending) < self._window:
                chunk = self._chunks.popleft()
                self._pending.append(self._pool._pool().submit(_compose, self._campaign_id, chunk))
        except BrokenProcessPool as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self._pool._discard()
        self.close()
        self._broken = ComposeUnavailable(f"a composing process died: {exc}")

    def __iter__(self) -> Iterator[Envelope | NewsletterError]:
        return self

    def __next__(self) -> Envelope | NewsletterError:
        if not self._ready:
            if self._broken is not None:
                raise self._broken
            if not self._pending:
                raise StopIteration
            try:
                made = self._pending.popleft().result()
            except BrokenProcessPool as exc:
                self._fail(exc)
                raise self._broken or ComposeUnavailable(str(exc)) from None
            self._ready.extend(_unpack(made))
            self._fill()
        return self._ready.popleft()

    def close(self) -> None:
        """Cancel what has not started; what is running finishes and is dropped."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._chunks.clear()
        self._ready.clear()


def _unpack(made: list[Made]) -> Iterator[Envelope | NewsletterError]:
    from newsletter.campaigns.envelope import Envelope

    for item in made:
        yield NewsletterError(item) if isinstance(item, str) else Envelope(*item)


# -- inside a helper process -----------------------------------------------------------

_settings: Settings | None = None
_make: ComposersFactory | None = None
_composer_for: Callable[[int], Composer] | None = None
_composers: dict[int, Composer] = {}


def _start(settings: Settings, make: ComposersFactory) -> None:
    global _settings, _make
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the sending process
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not an inherited stop handler
    _settings, _make = settings, make
    threading.Thread(target=_exit_with_sender, daemon=True).start()


def _exit_with_sender() -> None:
    """End this helper when the sending process is gone (killed with SIGKILL, say).

    A helper otherwise waits forever for work from a pipe whose other end it also
    holds; the claimed rows are taken over by the next worker once their lease ends.
    Its parent process may be the fork server, which stays up while any helper does,
    so the helper waits on the pipe the sending process holds open, not on its parent.
    """
    sender = multiprocessing.parent_process()
    if sender is not None:
        sender.join()
        os._exit(0)


def _prepare(campaign_ids: tuple[int, ...]) -> None:
    """Build these campaigns' composers before their first copies are asked for.

    A campaign that cannot be built now is left alone: its first copy reports why.
    """
    for campaign_id in campaign_ids:
        with contextlib.suppress(Exception):
            _composer(campaign_id)


def _composer(campaign_id: int) -> Composer:
    composer = _composers.get(campaign_id)
    if composer is None:
        global _composer_for
        if _composer_for is None:  # after the fork: this helper's own database pool
            if _settings is None or _make is None:
                raise RuntimeError("the initializer has not run")
            _composer_for = _make(_settings)
        composer = _composers[campaign_id] = _composer_for(campaign_id)
    return composer


def _compose(campaign_id: int, rows: list[Row]) -> list[Made]:
    from newsletter.campaigns.ledger import Claimed

    try:
        composer = _composer(campaign_id)
    except NewsletterError:
        raise
    except Exception as exc:  # the database is away: the sending process backs off
        from newsletter.database import first_line, lost

        if not lost(exc):
            raise
        raise ComposeUnavailable(f"the database is unavailable: {first_line(exc)}") from None
    out: list[Made] = []
    for row in rows:
        try:
            envelope = composer.compose(Claimed(*row))
        except NewsletterError as exc:
            out.append(str(exc) or type(exc).__name__)
            continue
        out.append((envelope.sender, envelope.recipient, envelope.message, envelope.message_id))
    return out
