"""Returned mail in the shapes today's big providers send (written here, in their shapes):
Gmail, Microsoft 365, Yahoo and Apple iCloud, read as staff would expect; and
``bounces process --dry-run``, which says for each message what it would do and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, insert, select
from typer.testing import CliRunner, Result

from newsletter.campaigns.bounces.parse import parse
from newsletter.campaigns.bounces.process import events_from_report
from newsletter.campaigns.models import BounceEvent, Campaign
from newsletter.campaigns.states import BounceKind
from newsletter.cli.app import app
from newsletter.config import Settings
from subscribers.models import MailingList, Status, Subscriber
from subscribers.orm import utcnow
from tests.conftest import FIXTURE_SECRET


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The sample mails' tokens were signed with ``FIXTURE_SECRET``."""
    return settings.model_copy(update={"secret_key": SecretStr(FIXTURE_SECRET)})


@pytest.fixture
def signed_env(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample mails' tokens were signed with ``FIXTURE_SECRET``."""
    from newsletter.cli import common

    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", FIXTURE_SECRET)
    common.settings.cache_clear()
    return cli_env


PROVIDERS = Path(__file__).parent / "fixtures" / "providers"
# sample: (kind, reader the VERP token names, the address the report names, decided by)
EXPECTED: dict[str, tuple[BounceKind, int, str, str]] = {
    "gmail_delay.eml": (BounceKind.DELAYED, 110, "hugo@inbox.example.com", "dsn"),
    "gmail_inbox_full.eml": (BounceKind.SOFT, 111, "ines.full@gmail.com", "dsn"),
    "gmail_unauthenticated.eml": (BounceKind.POLICY, 112, "jon@workspace.example.com", "dsn"),
    "microsoft365_recipient_not_found.eml": (
        BounceKind.HARD, 113, "kim.left@contoso.example.com", "dsn",
    ),
    "microsoft365_automatic_reply.eml": (BounceKind.AUTO_REPLY, 114, "", "headers"),
    "yahoo_failure_notice.eml": (BounceKind.HARD, 115, "liam.gone@yahoo.com", "text"),
    "yahoo_deferred_tss04.eml": (BounceKind.DELAYED, 116, "mia@yahoo.com", "dsn"),
    "icloud_user_unknown.eml": (BounceKind.HARD, 117, "noah.old@icloud.com", "dsn"),
    "icloud_vacation.eml": (BounceKind.AUTO_REPLY, 118, "", "headers"),
    "icloud_over_quota.eml": (BounceKind.HARD, 119, "paul.full@icloud.com", "dsn"),
}  # fmt: skip
HARD = {113, 115, 117, 119}  # iCloud's 5.2.2: a final over-quota


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_provider_samples_are_read_and_traced_by_their_token(settings: Settings, name: str) -> None:
    kind, reader, address, source = EXPECTED[name]
    raw = (PROVIDERS / name).read_bytes()
    (event,) = events_from_report(settings, parse(raw), raw)
    assert (event.kind, event.subscriber_id, event.campaign_id) == (kind, reader, 7)
    assert (event.email, event.source) == (address, source)
    assert event.evidence  # what staff see when they review it


def _seed(engine: Engine) -> None:
    """Readers 110-119 of campaign 7, and someone else who has the address one report names."""
    now = utcnow()
    people = {sid: f"reader{sid}@example.net" for sid in range(110, 120)}
    people[120] = "liam.gone@yahoo.com"  # named in the Yahoo report, but it is not about them
    with engine.begin() as conn:
        list_id = conn.scalar(
            insert(MailingList)
            .values(slug="all", name="All", description="", archived=False, created_at=now)
            .returning(MailingList.id)
        )
        conn.execute(
            insert(Subscriber),
            [
                {"id": sid, "email": address, "email_key": address, "name": "",
                 "status": "active", "language": "en", "source": "test",
                 "created_at": now, "updated_at": now}
                for sid, address in people.items()
            ],
        )  # fmt: skip
        conn.execute(
            insert(Campaign).values(
                id=7, briefing_path="b.md", briefing_slug="b", source_text="", subject="s",
                list_id=list_id, status="finished", stop_reason="", lint_override=False, total=10,
            )
        )  # fmt: skip


def _run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _statuses(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Subscriber.id, Subscriber.status)).all())


def test_dry_run_says_what_and_why_and_changes_nothing(signed_env: Path, engine: Engine) -> None:
    _seed(engine)
    out = " ".join(_run("bounces", "process", "--dry-run", str(PROVIDERS)).output.split())
    assert out.count("would suppress") == len(HARD)
    assert "would suppress reader113@example.net (hard-bounce)" in out
    assert "RFC 3464: Action failed, Status 5.1.10" in out  # the rule that decided
    assert 'SMTP status 5.0.0 in the text ("554: delivery error' in out  # Yahoo's own format
    assert "delay warning (never counted): RFC 3464: Action delayed, Status 4.7.0" in out
    assert "automatic reply (never counted)" in out and "Automatic reply: Briefing 112" in out
    assert "refusal of our mail (never counted): RFC 3464: Action failed, Status 5.7.26" in out
    assert "the report names noah.old@icloud.com" in out
    assert "Dry run: 10 message(s) read, nothing recorded or changed." in out
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BounceEvent)) == 0
    assert set(_statuses(engine).values()) == {Status.ACTIVE}


def test_provider_samples_suppress_only_the_dead_addresses(
    signed_env: Path, engine: Engine
) -> None:
    _seed(engine)
    out = " ".join(_run("bounces", "process", str(PROVIDERS)).output.split())
    assert "suppressed reader115@example.net (hard-bounce)" in out
    statuses = _statuses(engine)
    assert {sid for sid, status in statuses.items() if status != Status.ACTIVE} == HARD
    assert statuses[120] == Status.ACTIVE  # named in a report's text: never trusted
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(BounceEvent.subscriber_id, BounceEvent.kind)).all())
    assert kinds == {reader: kind for kind, reader, _, _ in EXPECTED.values()}
    # Afterwards the dry run says it has all been seen.
    again = " ".join(_run("bounces", "process", "--dry-run", str(PROVIDERS)).output.split())
    assert again.count("already recorded: nothing would change") == len(EXPECTED)
