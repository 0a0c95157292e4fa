"""Overlapping imports share the process-wide settings: changed once, restored once, and
only by the command that owns the process."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from newsletter.cli.tuning import COLLECTOR_OFF, SWITCH_INTERVAL, Shared, bulk_import
from subscribers.importer import import_csv
from tests.subscribers.conftest import CONSENT


def test_overlapping_holders_restore_only_when_the_last_leaves() -> None:
    value = ["original"]
    shared = Shared(lambda: value[0], lambda v: value.__setitem__(0, v), lambda _: "changed")
    first, second = shared.held(), shared.held()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first import ends while the second runs
    assert value == ["changed"]
    second.__exit__(None, None, None)
    assert value == ["original"]


def test_the_collector_comes_back_after_overlapping_imports() -> None:
    assert gc.isenabled()
    with COLLECTOR_OFF.held():
        with COLLECTOR_OFF.held():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_bulk_import_settings_are_held_and_put_back() -> None:
    interval = sys.getswitchinterval()
    with bulk_import():
        assert not gc.isenabled()
        assert sys.getswitchinterval() == min(interval, SWITCH_INTERVAL)
    assert gc.isenabled()
    assert sys.getswitchinterval() == interval


def test_an_import_leaves_the_process_settings_alone(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Only the command owning the process changes them: the console's imports run
    inside the web server, whose collector and threads are not the import's to tune."""
    source = tmp_path / "people.csv"
    source.write_text("email\nann@example.org\nbob@example.org\n", encoding="utf-8")
    interval = sys.getswitchinterval()
    seen: list[tuple[bool, float]] = []
    import_csv(
        sessions,
        source,
        consent=CONSENT,
        progress=lambda rows, read: seen.append((gc.isenabled(), sys.getswitchinterval())),
        batch_size=1,
    )
    assert seen and set(seen) == {(True, interval)}
