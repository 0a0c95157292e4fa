"""``campaign send --at/--now/--again`` through the real CLI, on SQLite and PostgreSQL.

Times are chosen far from any real "now" (2001 is past, 2999 is future) so no test
depends on the clock; the boundary itself is tested with an injected clock in
``test_sendtime``.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter.campaigns.models import Campaign
from tests.campaigns.conftest import CLEAN_SOURCE, seed_audience
from tests.cli import run_cli

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli(*args, **settings)`` -> (exit code, stdout, stderr)."""

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        code = run_cli(list(args), monkeypatch, cli_env, **env)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def create(cli: Cli, folder: Path) -> str:
    path = folder / "112.md"
    path.write_text(CLEAN_SOURCE, encoding="utf-8")
    code, out, err = cli("campaign", "create", str(path), "--list", "All briefings", "-q")
    assert code == 0, err
    return out.strip()


def outbox(folder: Path) -> int:
    box = folder / "outbox"
    return len(mailbox.Maildir(box, create=False)) if box.exists() else 0


def one_line_error(err: str) -> str:
    assert err.startswith("error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_a_time_in_the_past_is_refused_in_one_line_unless_now(
    cli: Cli, cli_env: Path, engine: Engine
) -> None:
    seed_audience(engine, 2)
    campaign = create(cli, cli_env)
    code, _, err = cli("campaign", "send", campaign, "--at", "2001-01-01T09:00")
    assert code == 1
    assert "2001-01-01 09:00 GMT is in the past" in one_line_error(err) and "--now" in err
    assert outbox(cli_env) == 0
    assert "Status: draft" in cli("campaign", "status", campaign)[1]

    code, out, err = cli("campaign", "send", campaign, "--at", "2001-01-01T09:00", "--now")
    assert code == 0, err
    assert "finished" in out and outbox(cli_env) == 2


def test_a_bare_time_is_read_and_shown_in_the_configured_zone(
    cli: Cli, cli_env: Path, engine: Engine
) -> None:
    seed_audience(engine, 1)
    campaign = create(cli, cli_env)
    zone = {"timezone": "America/New_York"}
    code, out, err = cli("campaign", "send", campaign, "--at", "2999-07-01T09:00", **zone)
    assert code == 0, err
    assert "scheduled for 2999-07-01 09:00 EDT" in out
    with engine.connect() as conn:
        send_at = conn.scalar(select(Campaign.send_at).where(Campaign.id == int(campaign)))
    assert send_at == datetime(2999, 7, 1, 13, 0, tzinfo=UTC)
    assert outbox(cli_env) == 0

    status = cli("campaign", "status", campaign, **zone)[1]
    assert "Scheduled for: 2999-07-01 09:00 EDT (America/New_York)" in status
    listed = cli("campaign", "list", **zone)[1]
    assert "01 Jul 09:00" in listed and "America/New_York" in listed
    # The same moment, for staff in London.
    assert (
        "Scheduled for: 2999-07-01 14:00 BST (Europe/London)"
        in cli("campaign", "status", campaign, timezone="Europe/London")[1]
    )


def test_help_names_the_zone_a_bare_time_is_read_in(cli: Cli) -> None:
    code, out, _ = cli("campaign", "send", "--help", timezone="Asia/Tokyo")
    assert code == 0
    assert "Asia/Tokyo" in out and "NEWSLETTER_TIMEZONE" in out


def test_an_unknown_zone_is_one_clear_line(cli: Cli, cli_env: Path) -> None:
    code, _, err = cli("campaign", "list", timezone="Mars/Olympus")
    assert code == 1
    assert "NEWSLETTER_TIMEZONE" in one_line_error(err) and "Europe/London" in err


def test_a_briefing_already_sent_to_the_list_is_refused_unless_again(
    cli: Cli, cli_env: Path, engine: Engine
) -> None:
    seed_audience(engine, 2)
    first = create(cli, cli_env)
    assert cli("campaign", "send", first)[0] == 0
    assert outbox(cli_env) == 2

    second = create(cli, cli_env)
    code, _, err = cli("campaign", "send", second)
    assert code == 1
    one_line_error(err)
    assert "already went to All briefings on" in err and f"campaign {first}" in err
    assert "--again" in err and outbox(cli_env) == 2

    code, _, err = cli("campaign", "send", second, "--again")
    assert code == 0, err
    assert outbox(cli_env) == 4


def test_a_briefing_scheduled_for_the_list_is_not_scheduled_twice(
    cli: Cli, cli_env: Path, engine: Engine
) -> None:
    seed_audience(engine, 1)
    first = create(cli, cli_env)
    assert cli("campaign", "send", first, "--at", "2999-01-01T09:00")[0] == 0
    second = create(cli, cli_env)
    code, _, err = cli("campaign", "send", second, "--at", "2999-01-02T09:00")
    assert code == 1
    assert "is already scheduled to go to All briefings at 2999-01-01 09:00 GMT" in one_line_error(
        err
    )
    # Cancelled before it went, the first no longer counts.
    assert cli("campaign", "cancel", first)[0] == 0
    assert cli("campaign", "send", second, "--at", "2999-01-02T09:00")[0] == 0
