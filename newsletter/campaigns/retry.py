"""When a temporary failure is tried again, and when it becomes final.

Pure: no database, no clock of its own. The lanes ask it after a temporary SMTP
reply; the loop asks it how long to leave a mail server alone that is unavailable.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.campaigns.throttle import backoff

SERVER_PAUSE_CAP = 300.0  # an unavailable server is tried again at least this often


@dataclass(frozen=True)
class RetryPolicy:
    limit: int = 5  # attempts before a temporary failure becomes final
    delay: float = 60.0  # seconds before the first retry, doubled each time
    cap: float = 3600.0

    def retry_in(self, attempts: int, rng: Callable[[], float] = random.random) -> float | None:
        """Seconds before trying a recipient again after ``attempts`` tries; None: give up."""
        if attempts >= self.limit:
            return None
        return backoff(attempts, base=self.delay, cap=self.cap, rng=rng)

    def server_pause(self, streak: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to leave the mail server alone after ``streak`` batches found it unavailable.

        Shorter than a recipient's retry delay: the server, not the address, was the problem.
        """
        return backoff(streak, base=max(1.0, self.delay / 4), cap=SERVER_PAUSE_CAP, rng=rng)
