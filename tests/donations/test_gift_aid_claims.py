"""`newsletter donations gift-aid claim` on real databases: gifts from the donate form
claimed once, marked with the claim's reference, and refunds adjusted in the next claim."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from newsletter.cli import common
from newsletter.cli.app import app as cli
from newsletter.config import Settings
from newsletter.donations import intents
from newsletter.donations.gateway import StripeGateway
from newsletter.donations.gift_aid.claims import Plan, claim_of, record
from newsletter.donations.models import Gift, GiftAidClaim, GiftAidClaimed
from newsletter.donations.states import Frequency
from newsletter.donations.webhook import WebhookProcessor
from newsletter.errors import Conflict
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET, deliver
from tests.donations.fake_stripe import FakeStripe


def _run(*args: str) -> Result:
    common.settings.cache_clear()
    return CliRunner().invoke(cli, ["donations", "gift-aid", "claim", *args])


@pytest.fixture
def live(sessions: sessionmaker[Session]) -> WebhookProcessor:
    """The webhook as a live installation runs it (Gift Aid is claimed on live gifts)."""
    return WebhookProcessor(sessions, secrets=[WEBHOOK_SECRET], livemode=True)


def _give(
    sessions: sessionmaker[Session],
    settings: Settings,
    fake: FakeStripe,
    live: WebhookProcessor,
    amount: int,
    name: str,
    code: str,
    address: str = "12 High Street\nLeeds",
    created: int | None = None,
) -> dict[str, Any]:
    """A donor gives through the form with a Gift Aid declaration; the live webhook records it."""
    form = intents.DonationForm(
        amount_minor=amount,
        frequency=Frequency.ONCE,
        gift_aid=True,
        gift_aid_name=name,
        gift_aid_address=address,
        gift_aid_postcode=code,
    )
    gateway = StripeGateway(SECRET_KEY, api_base=fake.url, retries=0)
    sid = intents.start_checkout(sessions, settings, gateway, form, intents.Attribution()).id
    paid = fake.pay(sid, email=f"{name.split()[0].lower()}@example.org", name=name)
    event = fake.event("checkout.session.completed", paid, livemode=True, created=created or PAID)
    deliver(live, event)
    return paid


#: When the gifts were paid (Stripe's event time): a fixed day, so no test depends on
#: the clock. 10 November 2026, noon in London.
PAID = int(datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp())
DAY = date(2026, 11, 10)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def test_claim_mark_and_adjust_a_later_refund(
    cli_env: Path,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    live: WebhookProcessor,
) -> None:
    settings = stripe_settings.model_copy(update={"gift_aid": True})
    ann = _give(sessions, settings, fake_stripe, live, 2500, "Ann Smith", "ls1 1aa")
    _give(sessions, settings, fake_stripe, live, 1000, "Bo Li", "M1 1AE")
    _give(sessions, settings, fake_stripe, live, 5000, "Pierre Dupont", "X", "Rose Cottage")
    _give(sessions, settings, fake_stripe, live, 4000, "Zoe Roe", "75001")
    preview = _run("--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "Dry run: nothing written" in preview.output
    assert "3 line(s) for 3 gift(s)" in preview.output and "£85 given" in preview.output
    assert "£21.25 of Gift Aid" in preview.output
    assert "no UK postcode" in preview.output
    assert not list(cli_env.glob("*.csv"))

    first = _run("-o", "claim.csv")
    assert first.exit_code == 0, first.output
    reference = first.output.split("Claim ", 1)[1].split(":", 1)[0]
    assert reference.startswith("GA-")
    day = "10/11/26"
    assert _rows(cli_env / "claim.csv") == [
        ["", "Ann", "Smith", "12", "LS1 1AA", "", "", day, "25.00"],
        ["", "", "", "", "", f"Online gifts {day} to {day}", "", day, "10.00"],
        ["", "Pierre", "Dupont", "Rose Cottage", "X", "", "", day, "50.00"],
    ]
    assert f"Earliest donation date in the claim: {day}" in first.output
    with sessions() as session:
        marked = {g.donor_name: claim_of(session, g.id) for g in session.scalars(select(Gift))}
    assert marked == {
        "Ann Smith": reference,
        "Bo Li": reference,
        "Pierre Dupont": reference,
        "Zoe Roe": "",
    }

    common.settings.cache_clear()
    exported = CliRunner().invoke(cli, ["donations", "export", "-o", "gifts.csv"])
    assert exported.exit_code == 0, exported.output
    with (cli_env / "gifts.csv").open(newline="", encoding="utf-8") as handle:
        by_name = {row["donor_name"]: row["gift_aid_claim"] for row in csv.DictReader(handle)}
    assert by_name == marked

    again = _run("-o", "again.csv")
    assert isinstance(again.exception, Conflict) and "nothing to claim" in str(again.exception)
    assert not (cli_env / "again.csv").exists()

    # Ann's gift is refunded after it was claimed; a new gift comes in
    charge = fake_stripe.charge(ann["payment_intent"], 2500, refunded=2500)
    deliver(live, fake_stripe.event("charge.refunded", charge, livemode=True, created=PAID + 60))
    _give(sessions, settings, fake_stripe, live, 3000, "Cy Twombly", "EC1A 1BB")
    second = _run("-o", "second.csv")
    assert second.exit_code == 0, second.output
    assert _rows(cli_env / "second.csv") == [
        ["", "Cy", "Twombly", "12", "EC1A 1BB", "", "", day, "30.00"]
    ]
    assert "Adjustment: £25 of gifts claimed before" in second.output
    assert "enter £6.25 as Gift Aid over-claimed" in second.output
    third = _run("--dry-run")
    assert "No gifts to claim." in third.output and "Adjustment" not in third.output


def test_until_is_a_uk_day_and_leaves_later_gifts_for_the_next_claim(
    cli_env: Path,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    live: WebhookProcessor,
) -> None:
    settings = stripe_settings.model_copy(update={"gift_aid": True})
    # 23:30 UTC on 31 May is 00:30 on 1 June in London (summer time): a June gift
    june = int(datetime(2027, 5, 31, 23, 30, tzinfo=UTC).timestamp())
    _give(sessions, settings, fake_stripe, live, 2500, "Ann Smith", "LS1 1AA", created=june)
    result = _run("--until", "2027-05-31", "-o", "claim.csv")
    assert isinstance(result.exception, Conflict)
    result = _run("--until", "2027-06-01", "-o", "claim.csv")
    assert result.exit_code == 0, result.output
    assert _rows(cli_env / "claim.csv")[0][7] == "01/06/27"
    result = _run("--until", "5 April", "-o", "claim.csv")
    assert "not a date such as 2027-04-05" in str(result.exception)
    result = _run("--until", "2027-06-01")
    assert "say where to write the schedule" in str(result.exception)


def test_two_claims_at_the_same_moment_never_take_a_gift_twice(
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
    live: WebhookProcessor,
) -> None:
    """A second claim started while the first is still writing its file gets nothing."""
    settings = stripe_settings.model_copy(update={"gift_aid": True})
    _give(sessions, settings, fake_stripe, live, 2500, "Ann Smith", "LS1 1AA")
    outcome: list[BaseException | str] = []

    def second() -> None:
        try:
            outcome.append(record(sessions, DAY, datetime.now(UTC), lambda *_: None)[0])
        except BaseException as exc:
            outcome.append(exc)

    racer = threading.Thread(target=second)

    def write(reference: str, plan: Plan) -> None:
        racer.start()  # the first claim has not committed yet

    reference, plan = record(sessions, DAY, datetime.now(UTC), write)
    racer.join(60)
    assert len(plan.schedule.lines) == 1
    [other] = outcome
    assert isinstance(other, Conflict), other
    with sessions() as session:
        claimed = session.scalars(select(GiftAidClaimed.claim_id)).all()
        claims = session.scalars(select(GiftAidClaim.reference)).all()
    assert len(claimed) == 1 and claims == [reference]
