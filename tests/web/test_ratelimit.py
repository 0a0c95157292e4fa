"""The shared rate limiter, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.web import ratelimit
from newsletter.web.models import RateHit
from newsletter.web.ratelimit import RateLimiter

SECRET = b"test-secret"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(sessions: sessionmaker[Session], clock: Clock, limit: int = 3) -> RateLimiter:
    return RateLimiter(sessions, "test", limit, 60.0, secret=SECRET, clock=clock)


def test_limit_holds_within_a_window_and_frees_up_after(sessions: sessionmaker[Session]) -> None:
    clock = Clock(60_000.0)  # the start of a window
    one = limiter(sessions, clock)
    assert [one.allow("a") for _ in range(5)] == [True, True, True, False, False]
    assert one.allow("b")  # other keys have their own count
    clock.now += 90  # half-way through the next window: 3 * 0.5 earlier hits still count
    assert [one.allow("a") for _ in range(3)] == [True, True, False]
    clock.now += 150  # both earlier windows out of view
    assert [one.allow("a") for _ in range(4)] == [True, True, True, False]


def test_processes_share_one_count(sessions: sessionmaker[Session]) -> None:
    """Two limiters over one database stand for two web workers: together they allow the
    limit once, not once each."""
    clock = Clock()
    first, second = limiter(sessions, clock), limiter(sessions, clock)
    answers = [first.allow("x"), second.allow("x"), first.allow("x"), second.allow("x")]
    assert answers == [True, True, True, False]


def test_concurrent_hits_never_overshoot(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    allowed: list[bool] = []
    lock = threading.Lock()

    def hit() -> None:
        answer = limiter(sessions, clock, limit=5).allow("burst")
        with lock:
            allowed.append(answer)

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(allowed) == [False] * 7 + [True] * 5


def test_keys_are_stored_as_hmacs_and_expired_rows_go(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    one = limiter(sessions, clock)
    one.allow("victim@example.org")
    with sessions() as session:
        keys = list(session.scalars(select(RateHit.key)))
    assert len(keys) == 1 and "victim" not in keys[0] and len(keys[0]) == 64
    monkeypatch.setattr(ratelimit, "CLEANUP_SHARE", 1.0)
    clock.now += 600
    one.allow("someone else")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RateHit)) == 1
