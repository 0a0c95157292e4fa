"""Waiting out a database outage: one line when it starts, one when it ends, no traceback."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from newsletter import database
from newsletter.campaigns.outage import Reconnect
from newsletter.database import lost

DOWN = OperationalError("SELECT 1", {}, Exception("connection refused\nDETAIL: more"))


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[BaseException | int] = [DOWN, DOWN, 7]

    def probe() -> int:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    caplog.set_level(logging.INFO)
    assert Reconnect(threading.Event(), first=0.0).wait(DOWN, probe, lambda: 7, lost)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert lines[0].startswith("database unavailable (connection refused)")
    assert "7 outcome(s) held" in lines[0]
    assert lines[1].startswith("database back after") and "7 held outcome(s) written" in lines[1]
    assert not any(r.exc_info for r in caplog.records)


def test_a_stop_during_the_outage_says_what_was_not_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    stop.set()
    assert not Reconnect(stop, first=0.0).wait(DOWN, lambda: 0, lambda: 3, lost)
    assert "3 outcome(s) not written" in caplog.records[-1].getMessage()


def test_an_error_that_is_not_an_outage_is_not_hidden() -> None:
    broken = ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))

    def probe() -> int:
        raise broken

    assert not lost(broken)
    with pytest.raises(ProgrammingError):
        Reconnect(threading.Event(), first=0.0).wait(DOWN, probe, lambda: 0, lost)


def test_only_errors_that_pass_with_time_count_as_an_outage(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(OperationalError) as missing_table, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert not lost(missing_table.value)  # a schema problem: retrying will not help
    locked = OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert lost(locked) and lost(DOWN)
    engine.dispose()
