"""A campaign narrowed to a private tag reaches only the active people on its list who
carry the tag, chosen with ``campaign create --tag`` or ``campaign send --tag``."""

from __future__ import annotations

import mailbox
from pathlib import Path

from typer.testing import CliRunner, Result

from newsletter.cli.app import app
from subscribers.errors import NotFound
from tests.campaigns.conftest import CLEAN_SOURCE


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    return result


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _recipients(folder: Path) -> list[str]:
    return sorted(str(m["To"]) for m in mailbox.Maildir(folder / "outbox", create=False))


def test_a_campaign_narrowed_to_a_tag_reaches_only_active_people_with_it(cli_env: Path) -> None:
    for who in ("ann", "bob", "cy", "dee"):
        ok("subscribers", "add", f"{who}@example.org", "--topic", "All briefings")
    ok("subscribers", "tag", "add", "ann@example.org", "Donor")
    ok("subscribers", "tag", "add", "bob@example.org", "Donor", "Board")
    ok("subscribers", "tag", "add", "cy@example.org", "Donor")
    ok("subscribers", "unsubscribe", "cy@example.org")  # a tag never brings anyone back
    briefing = cli_env / "112.md"
    briefing.write_text(CLEAN_SOURCE, encoding="utf-8")

    created = ok("campaign", "create", str(briefing), "--list", "All briefings", "--tag", "donor")
    assert "Only people tagged 'donor' will get it." in created
    campaign_id = created.split("Created campaign ")[1].split(":")[0]
    ok("campaign", "send", campaign_id)
    assert _recipients(cli_env) == ["ann@example.org", "bob@example.org"]

    later = ok("campaign", "create", str(briefing), "--list", "All briefings", "-q").strip()
    refused = run("campaign", "send", later, "--tag", "Nobody", "--again")
    assert isinstance(refused.exception, NotFound) and "no tag called 'Nobody'" in str(
        refused.exception
    )
    ok("campaign", "send", later, "--tag", "Board", "--again")
    assert _recipients(cli_env).count("bob@example.org") == 2
    assert _recipients(cli_env).count("ann@example.org") == 1
