"""``newsletter campaign``, ``worker`` and ``bounces`` end to end, as staff would type them."""

from __future__ import annotations

import email
import email.message
import email.policy
import mailbox
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from newsletter.campaigns.ledger import Ledger
from newsletter.campaigns.manager import CampaignStateError, LintRefused
from newsletter.cli import common
from newsletter.cli.app import app
from newsletter.config import Settings
from newsletter.errors import BriefingError, NewsletterError, NotFound
from newsletter.web.app import create_app
from tests.campaigns.conftest import CLEAN_SOURCE, seed_audience
from tests.conftest import EXAMPLE_BRIEFING

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def create(folder: Path) -> Result:
    return run("campaign", "create", str(clean_briefing(folder)), "--list", "All briefings", "-q")


def clean_briefing(folder: Path) -> Path:
    path = folder / "112.md"
    path.write_text(CLEAN_SOURCE, encoding="utf-8")
    return path


def test_create_send_and_status_deliver_to_the_outbox(cli_env: Path, engine: Engine) -> None:
    seed_audience(engine, 7)
    created = run(
        "campaign", "create", str(clean_briefing(cli_env)), "--list", "All briefings", "-q"
    )
    assert created.exit_code == 0, created.output
    campaign_id = created.output.strip()

    sent = run("campaign", "send", campaign_id)
    assert sent.exit_code == 0, sent.output
    assert "finished" in sent.output
    outbox = mailbox.Maildir(cli_env / "outbox", create=False)
    assert len(outbox) == 7
    recipients = sorted(str(m["To"]) for m in outbox)
    assert all("@example.net" in r for r in recipients)
    # "View in browser" leads to a page that exists before anyone can click it.
    slug = "112-foreign-ministers-renew-pledges-to-ukraine-fail-to-condemn-a"
    with TestClient(create_app(Settings(_env_file=None))) as client:
        assert client.get(f"/archive/{slug}").status_code == 200
    parsed = email.message_from_bytes(next(iter(outbox)).as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    body = parsed.get_body(("plain",))
    assert body is not None
    copy = body.get_content()
    assert f"https://news.example.org/archive/{slug}" in copy

    status = run("campaign", "status", campaign_id, "--failures")
    assert status.exit_code == 0
    assert "finished" in status.output and "No failed or deferred" in status.output
    listed = run("campaign", "list")
    assert "Foreign Ministers" in listed.output and "finished" in listed.output  # the title

    again = run("campaign", "send", campaign_id)
    assert isinstance(again.exception, CampaignStateError)  # a finished campaign never resends
    assert len(mailbox.Maildir(cli_env / "outbox", create=False)) == 7


def test_lint_errors_block_sending_unless_forced(cli_env: Path, engine: Engine) -> None:
    seed_audience(engine, 2)
    example = cli_env / "example.md"
    shutil.copy(EXAMPLE_BRIEFING, example)  # its links were lost in the PDF: placeholders
    created = run("campaign", "create", str(example), "--list", "all-briefings", "-q")
    campaign_id = created.output.strip()

    refused = run("campaign", "send", campaign_id)
    assert isinstance(refused.exception, LintRefused)
    assert "--force" in str(refused.exception)
    assert not (cli_env / "outbox").exists() or len(mailbox.Maildir(cli_env / "outbox")) == 0

    forced = run("campaign", "send", campaign_id, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(mailbox.Maildir(cli_env / "outbox", create=False)) == 2


def test_preview_pause_resume_and_scheduling(cli_env: Path, engine: Engine) -> None:
    seed_audience(engine, 3)
    created = run(
        "campaign", "create", str(clean_briefing(cli_env)), "--list", "All briefings", "-q"
    )
    campaign_id = created.output.strip()

    shown = run("campaign", "preview", campaign_id, "--out", str(cli_env / "pv"))
    assert shown.exit_code == 0, shown.output
    assert (cli_env / "pv" / "preview.eml").stat().st_size > 1000
    assert "Readers who will receive it now: 3 (everyone on All briefings)" in shown.output

    later = run("campaign", "send", campaign_id, "--at", "2999-01-01T09:00")
    assert later.exit_code == 0 and "scheduled" in later.output
    assert run("worker", "--once").exit_code == 0
    assert not (cli_env / "outbox").exists()  # not due yet

    assert run("campaign", "pause", campaign_id).exit_code == 0
    resumed = run("campaign", "resume", campaign_id)
    assert resumed.exit_code == 0 and "resumed" in resumed.output
    assert run("campaign", "cancel", campaign_id).exit_code == 0
    assert "cancelled" in run("campaign", "status", campaign_id).output


def test_bad_input_is_one_clear_error(cli_env: Path, engine: Engine) -> None:
    seed_audience(engine, 1)
    missing = run("campaign", "status", "999")
    assert isinstance(missing.exception, NotFound) and "999" in str(missing.exception)
    no_file = run("campaign", "create", str(cli_env / "nope.md"), "--list", "All briefings")
    assert isinstance(no_file.exception, BriefingError)
    no_list = run("campaign", "create", str(clean_briefing(cli_env)), "--list", "Nonexistent")
    assert isinstance(no_list.exception, NotFound)
    created = run(
        "campaign", "create", str(clean_briefing(cli_env)), "--list", "All briefings", "-q"
    )
    bad_time = run("campaign", "send", created.output.strip(), "--at", "next tuesday")
    assert isinstance(bad_time.exception, NewsletterError) and "--at" in str(bad_time.exception)
    not_a_number = run("campaign", "status", "abc")
    assert not_a_number.exit_code == 2  # usage error from the argument parser


def test_bounces_process_suppresses_by_policy(cli_env: Path, engine: Engine) -> None:
    seed_audience(engine, 1)
    box = mailbox.Maildir(cli_env / "bounces", create=True)
    for name in (
        "exim_plaintext.eml",
        "out_of_office.eml",
        "postfix_delayed.eml",
        "forged_token.eml",
    ):
        box.add((FIXTURES / name).read_bytes())
    done = run("bounces", "process", str(cli_env / "bounces"))
    assert done.exit_code == 0, done.output
    # The bounce names campaign 7 / subscriber 105, who do not exist here: recorded, nobody
    # suppressed, and the other two messages are not bounces.
    assert "suppressed" not in done.output
    # That one and the forged one are kept apart, and staff are told where to look.
    said = " ".join(done.output.split())  # as the terminal's width wrapped it
    assert "2 report(s) not traced to a subscriber" in said
    assert "nobody was marked" in said
    listed = run("bounces", "list", "--address", "erin@gone.example.com")
    assert listed.exit_code == 0 and "5.1.1" in listed.output and "hard" in listed.output
    missing = run("bounces", "process", str(cli_env / "nowhere"))
    assert isinstance(missing.exception, NotFound)


def test_test_copy_and_resuming_a_paused_send_in_the_foreground(
    cli_env: Path, engine: Engine
) -> None:
    seed_audience(engine, 4)
    campaign_id = create(cli_env).output.strip()
    tested = run("campaign", "test", campaign_id, "--to", "editor@example.org")
    assert tested.exit_code == 0, tested.output
    (copy,) = list(mailbox.Maildir(cli_env / "outbox", create=False))
    assert copy["To"] == "editor@example.org" and copy["Subject"].startswith("[Test]")

    assert run("campaign", "send", campaign_id, "--background").exit_code == 0
    Ledger(engine).start(int(campaign_id))  # a worker elsewhere has just started it
    assert run("campaign", "pause", campaign_id).exit_code == 0
    assert "paused" in run("campaign", "status", campaign_id).output
    resumed = run("campaign", "resume", campaign_id)
    assert resumed.exit_code == 0, resumed.output
    assert "finished" in resumed.output
    assert len(mailbox.Maildir(cli_env / "outbox", create=False)) == 1 + 4


def test_a_paper_without_its_appeal_is_not_sent_while_donations_are_on(
    cli_env: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a Stripe key set the donate page is live: a briefing that lost its appeal would
    send every reader a paper with nothing asking them to give."""
    seed_audience(engine, 1)
    no_appeal = cli_env / "no-appeal.md"
    no_appeal.write_text(CLEAN_SOURCE.split("\n## DONATE NOW PLEASE {.appeal}")[0] + "\n")
    assert "{.appeal}" not in no_appeal.read_text()
    created = run("campaign", "create", str(no_appeal), "--list", "All briefings", "-q")
    campaign_id = created.output.strip()
    monkeypatch.setenv("NEWSLETTER_STRIPE_SECRET_KEY", "sk_test_51FakeKeyForTheLocalFakeStripe")
    monkeypatch.setenv("NEWSLETTER_STRIPE_WEBHOOK_SECRET", "whsec_" + "a" * 32)
    common.settings.cache_clear()  # settings are read once per process; this one changed them
    refused = run("campaign", "send", campaign_id)
    assert isinstance(refused.exception, LintRefused)
    assert "no appeal" in str(refused.exception)
    monkeypatch.delenv("NEWSLETTER_STRIPE_SECRET_KEY")
    monkeypatch.delenv("NEWSLETTER_STRIPE_WEBHOOK_SECRET")
    common.settings.cache_clear()
    sent = run("campaign", "send", campaign_id)  # no online giving: nothing to ask for
    assert sent.exit_code == 0, sent.output
