"""Pacing and backoff: a worker never sends faster than asked, and retries spread out."""

from __future__ import annotations

from newsletter.campaigns.throttle import SendPacer, backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_rate_is_never_exceeded_over_a_long_run() -> None:
    clock = FakeClock()
    limiter = SendPacer(50, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limiter.acquire()
    # 1000 messages at 50/s need at least 20 s minus the small initial burst (5 tokens).
    assert clock.now >= (1000 - 5) / 50


def test_no_limit_means_no_waiting() -> None:
    clock = FakeClock()
    limiter = SendPacer(0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
    assert clock.now == 0


def test_backoff_doubles_is_capped_and_jittered() -> None:
    assert backoff(1, base=60, rng=lambda: 1.0) == 60
    assert backoff(3, base=60, rng=lambda: 1.0) == 240
    assert backoff(30, base=60, cap=3600, rng=lambda: 1.0) == 3600
    assert backoff(3, base=60, rng=lambda: 0.0) == 120  # never less than half the delay
    assert backoff(5, base=0) == 0
