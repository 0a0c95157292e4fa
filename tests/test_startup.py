"""Commands that face the public refuse demo or short secrets, and Stripe without its webhook."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.cli import common
from newsletter.cli.app import main
from newsletter.config import DEMO_SECRET, Settings
from newsletter.startup import problem
from tests.cli import run_cli

PUBLIC_COMMANDS = [["serve"], ["worker", "--once"], ["campaign", "send", "1"]]
STRONG = "x" * 32


@pytest.mark.parametrize("command", PUBLIC_COMMANDS, ids=lambda c: c[0])
def test_the_demo_secret_never_serves_a_public_address(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    code = run_cli(command, monkeypatch, tmp_path, database_url=f"sqlite:///{tmp_path}/n.db")
    err = capsys.readouterr().err
    assert code == 1
    assert "NEWSLETTER_SECRET_KEY is the demo value" in err
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", PUBLIC_COMMANDS, ids=lambda c: c[0])
def test_a_short_secret_is_refused_with_how_to_make_one(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_cli(command, monkeypatch, tmp_path, secret_key="x" * 31)
    err = capsys.readouterr().err
    assert code == 1
    assert "NEWSLETTER_SECRET_KEY is 31 bytes, fewer than 32" in err
    assert "secrets.token_urlsafe(48)" in err


def test_stripe_keys_without_a_webhook_secret_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NEWSLETTER_STRIPE_WEBHOOK_SECRET", raising=False)
    code = run_cli(["serve"], monkeypatch, tmp_path, secret_key=STRONG, stripe_secret_key="sk_x")
    err = capsys.readouterr().err
    assert code == 1 and "NEWSLETTER_STRIPE_WEBHOOK_SECRET" in err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.9.9.9", "http://[::1]:8000", "http://localhost"]
)
def test_loopback_addresses_keep_the_demo_working(url: str) -> None:
    assert problem(Settings(_env_file=None, public_base_url=url)) is None
    demo = Settings(_env_file=None, public_base_url=url, secret_key=DEMO_SECRET)
    assert problem(demo.model_copy(update={"stripe_secret_key": "sk_test"})) is None


@pytest.mark.parametrize(
    "url", ["https://news.example.org", "http://10.0.0.5:8000", "http://[2001:db8::1]", "http://0"]
)
def test_anything_else_counts_as_public(url: str) -> None:
    assert problem(Settings(_env_file=None, public_base_url=url)) is not None
    assert problem(Settings(_env_file=None, public_base_url=url, secret_key=STRONG)) is None


def test_a_worker_on_loopback_with_the_demo_secret_still_runs(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSLETTER_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    monkeypatch.setattr("sys.argv", ["newsletter", "worker", "--once"])
    common.settings.cache_clear()
    with pytest.raises(SystemExit) as done:  # noqa: PT012 -- a return counts as exit 0
        main()
        raise SystemExit(0)
    assert done.value.code in (0, None), capsys.readouterr().err
