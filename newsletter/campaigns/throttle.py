"""How fast a worker may send, and how long it waits after a temporary failure.

The clock and the sleep are parameters so the pacing logic is testable without
waiting, and thread-safe so several connections can share one rate.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


class SendPacer:
    """Paces calls to at most ``rate`` per second (0 means no limit).

    A token bucket holding a tenth of a second's worth, so a short stall (a slow SMTP
    reply) is caught up without a burst that would trip the receiver's own limits.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._capacity = max(1.0, rate / 10)
        self._tokens = self._capacity
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more message may go."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def backoff(
    attempt: int,
    *,
    base: float,
    cap: float = 3600.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): doubling, capped, jittered.

    The jitter (between half and the full delay) spreads retries so a thousand deferred
    recipients do not all come back in the same second and trip the same limit again.
    """
    if base <= 0:
        return 0.0
    delay: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay * (0.5 + rng() / 2)
