"""A missing real peer (Chromium, Dovecot) fails the run in CI and only skips elsewhere."""

from __future__ import annotations

import pytest

from tests import local


def test_a_missing_peer_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="required in CI: no chromium"):
        local.missing("no chromium")


def test_a_missing_peer_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        local.missing("no chromium")
    monkeypatch.setattr(local, "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.skip.Exception, match="make browser"):
        local.playwright_api()
