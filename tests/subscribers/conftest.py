"""``newsletter subscribers ...`` run in-process against the test database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import common
from newsletter.cli.app import app


class SubscribersCli:
    """``cli("add", ADDRESS)`` runs ``newsletter subscribers add ADDRESS``."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, ["subscribers", *args], input=input)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[SubscribersCli]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setattr(common.console, "width", 250)
    common.settings.cache_clear()
    yield SubscribersCli()
    common.settings.cache_clear()


CONSENT = "Readers who signed up for the briefings on our website"
"""The consent basis staff state when importing a file that does not record one."""
