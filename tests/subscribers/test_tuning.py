"""Overlapping imports share the process-wide settings: changed once, restored once."""

from __future__ import annotations

import gc

from subscribers.tuning import COLLECTOR_OFF, Shared


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
