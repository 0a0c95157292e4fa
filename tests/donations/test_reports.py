"""What staff read: report totals, the CSV export, reconcile, and receipts owed."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from newsletter import wiring
from newsletter.cli import common
from newsletter.cli.app import app as cli
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.donations import reports
from newsletter.donations.events import parse
from newsletter.donations.gateway import StripeGateway
from newsletter.donations.models import DonationIntent, Gift
from newsletter.donations.receipts.delivery import send_pending
from newsletter.donations.reconcile import reconcile
from newsletter.donations.states import Frequency, GiftStatus
from newsletter.donations.webhook import WebhookProcessor
from newsletter.errors import ConfigError
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET, RecordingSender
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import completed, event_rows, gifts, start


def _gift(source: str, amount: int, campaign: int | None, when: str, **kw: object) -> Gift:
    return Gift(
        source_id=source,
        amount_minor=amount,
        currency="gbp",
        campaign_id=campaign,
        paid_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
        **kw,
    )


@pytest.fixture
def ledger(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as s:
        intent = DonationIntent(
            public_id="di_aid",
            amount_minor=2500,
            currency="gbp",
            frequency=Frequency.ONCE,
            gift_aid=True,
            gift_aid_name="Ann Smith",
            gift_aid_address="1 High St, Leeds",
            gift_aid_postcode="LS1 1AA",
            gift_aid_wording="I want to Gift Aid",
            gift_aid_version="v1",
            note='=HYPERLINK("x")',
        )
        s.add(intent)
        s.flush()
        s.add_all(
            [
                _gift(
                    "cs_1",
                    2500,
                    1,
                    "2026-10-03",
                    frequency="once",
                    donor_email="ann@example.org",
                    intent_id=intent.id,
                ),
                _gift(
                    "in_1", 1000, 1, "2026-10-05", frequency="monthly", donor_email="mo@example.org"
                ),
                _gift(
                    "in_2", 1000, 1, "2026-11-05", frequency="monthly", donor_email="mo@example.org"
                ),
                _gift(
                    "cs_2",
                    5000,
                    2,
                    "2026-11-09",
                    frequency="once",
                    donor_email="kim@example.org",
                    refunded_minor=5000,
                    status=GiftStatus.REFUNDED,
                ),
                _gift(
                    "cs_3", 700, None, "2026-11-10", frequency="once", donor_email="ann@example.org"
                ),
            ]
        )
    return sessions


def test_report_per_campaign_and_month(ledger: sessionmaker[Session]) -> None:
    with ledger() as s:
        result = reports.report(s)
    by_campaign = {line.label: line for line in result.by_campaign}
    first = by_campaign["#1"]
    assert (
        first.gifts,
        len(first.donors),
        first.once_minor,
        first.monthly_minor,
        first.net_minor,
    ) == (3, 2, 2500, 2000, 4500)
    assert (by_campaign["#2"].refunded_minor, by_campaign["#2"].net_minor) == (5000, 0)
    assert by_campaign["(no campaign)"].net_minor == 700
    months = {line.label: line.net_minor for line in result.by_month}
    assert months == {"2026-10": 3500, "2026-11": 1700}
    [total] = result.totals
    assert (total.gifts, len(total.donors), total.net_minor, total.money(total.net_minor)) == (
        5,
        3,
        5200,
        "£52",
    )
    with ledger() as s:
        only = reports.report(s, campaign_id=2)
    assert [line.label for line in only.by_campaign] == ["#2"]


def test_export_has_gift_aid_and_no_formulas(ledger: sessionmaker[Session], tmp_path: Path) -> None:
    out = tmp_path / "gifts.csv"
    with ledger() as s:
        assert reports.export_file(s, out) == 5
    with out.open(encoding="utf-8") as written:
        rows = list(csv.DictReader(written))
    aid = next(r for r in rows if r["stripe_reference"] == "cs_1")
    assert (aid["gift_aid"], aid["gift_aid_name"], aid["gift_aid_postcode"]) == (
        "yes",
        "Ann Smith",
        "LS1 1AA",
    )
    assert aid["gift_aid_declaration_version"] == "v1" and aid["amount"] == "25.00"
    assert aid["note"].startswith("'=")
    assert next(r for r in rows if r["stripe_reference"] == "in_1")["gift_aid"] == "no"


def test_cli_report_list_and_export(
    ledger: sessionmaker[Session], db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    common.settings.cache_clear()
    runner = CliRunner()
    try:
        shown = runner.invoke(cli, ["donations", "report", "--campaign", "1"])
        assert shown.exit_code == 0, shown.output
        assert "#1" in shown.output and "£45" in shown.output and "2026-11" in shown.output
        listed = runner.invoke(cli, ["donations", "list"])
        assert listed.exit_code == 0 and "£50" in listed.output
        exported = runner.invoke(cli, ["donations", "export", "-o", str(tmp_path / "x.csv")])
        assert exported.exit_code == 0 and (tmp_path / "x.csv").exists()
        missing = runner.invoke(cli, ["donations", "export", "-o", str(tmp_path / "no" / "x.csv")])
        assert isinstance(missing.exception, ConfigError)
    finally:
        common.settings.cache_clear()


def test_reconcile_applies_only_missed_events(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    fake_stripe.events.clear()
    sender = RecordingSender()
    processor = WebhookProcessor(
        sessions, secrets=[WEBHOOK_SECRET], livemode=False, receipts=sender
    )
    seen_sid = start(sessions, stripe_settings, fake_stripe, amount=1500)
    _, seen = completed(fake_stripe, seen_sid)
    processor.process(parse(seen))
    missed_sid = start(sessions, stripe_settings, fake_stripe, amount=2600)
    completed(fake_stripe, missed_sid)  # the webhook never arrived
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    outcome = reconcile(sessions, gateway, processor)
    assert (outcome.listed, len(outcome.applied), outcome.already) == (2, 1, 1)
    assert sorted(g.amount_minor for g in gifts(sessions)) == [1500, 2600]
    again = reconcile(sessions, gateway, processor)
    assert (len(again.applied), event_rows(sessions)) == (0, 2)
    assert len(sender.sent) == 2


def test_failed_receipt_is_retried_and_sent_once(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    broken = RecordingSender(fail=True)
    processor = WebhookProcessor(
        sessions, secrets=[WEBHOOK_SECRET], livemode=False, receipts=broken
    )
    sid = start(sessions, stripe_settings, fake_stripe, amount=1800)
    _, event = completed(fake_stripe, sid, email="ann@example.org")
    result = processor.process(parse(event))
    assert result.new_gifts and gifts(sessions)[0].receipt_sent_at is None
    working = RecordingSender()
    assert send_pending(sessions, working) == 1
    assert send_pending(sessions, working) == 0
    assert [r.amount for r in working.sent] == ["£18"]


def test_real_receipt_reaches_the_outbox(
    sessions: sessionmaker[Session], stripe_settings: Settings, fake_stripe: FakeStripe
) -> None:
    import mailbox

    processor = WebhookProcessor(
        sessions,
        secrets=[WEBHOOK_SECRET],
        livemode=False,
        receipts=wiring.donor_mailer(stripe_settings),
    )
    sid = start(sessions, stripe_settings, fake_stripe, amount=2500)
    _, event = completed(fake_stripe, sid, email="ann@example.org", name="Ann")
    from newsletter.donations.events import parse

    processor.process(parse(event))
    processor.process(parse(event))
    [message] = list(mailbox.Maildir(str(stripe_settings.outbox_dir), create=False))
    assert message["To"].endswith("<ann@example.org>") or message["To"] == "ann@example.org"
    assert "List-Unsubscribe" not in message
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "£25" in body and stripe_settings.receipt_wording in body


def test_cli_reconcile_lists_and_applies(
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_stripe.events.clear()
    sid = start(sessions, stripe_settings, fake_stripe, amount=990)
    _, event = completed(fake_stripe, sid, email="late@example.org")
    for name, value in {
        "DATABASE_URL": db_url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
    }.items():
        monkeypatch.setenv(f"NEWSLETTER_{name}", value)
    common.settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["donations", "reconcile"])
        again = CliRunner().invoke(cli, ["donations", "reconcile"])
    finally:
        common.settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert event["id"] in result.output and "applied: gift recorded" in result.output
    assert "already recorded" in again.output
    assert [g.amount_minor for g in gifts(sessions)] == [990]
