"""What a receipt states: the amount given, the fee covered, once or monthly, and the
Gift Aid declaration, in the organisation's words, with one "Thank you"."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.donations import intents
from newsletter.donations.gateway import StripeGateway
from newsletter.donations.receipts.delivery import send_pending
from newsletter.donations.receipts.mail import render_receipt
from newsletter.donations.states import Frequency
from newsletter.donations.webhook import WebhookProcessor
from tests.donations.conftest import SECRET_KEY, WEBHOOK_SECRET, RecordingSender, deliver
from tests.donations.fake_stripe import FakeStripe


def _words(html: str) -> str:
    """The words a reader sees in the HTML part's body (not its title or styles)."""
    body = html[html.index("<body") :]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _give(
    sessions: sessionmaker[Session],
    settings: Settings,
    fake: FakeStripe,
    form: intents.DonationForm,
) -> dict[str, object]:
    gateway = StripeGateway(SECRET_KEY, api_base=fake.url, retries=0)
    sid = intents.start_checkout(sessions, settings, gateway, form, intents.Attribution()).id
    return fake.pay(sid, email="ann@example.org", name="Ann Smith")


def test_a_monthly_gift_with_the_fee_covered_and_gift_aid(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    settings = stripe_settings.model_copy(update={"gift_aid": True, "cover_fees": True})
    form = intents.DonationForm(
        amount_minor=750,
        frequency=Frequency.MONTHLY,
        cover_fees=True,
        gift_aid=True,
        gift_aid_name="Ann Smith",
        gift_aid_address="1 High Street\nLeeds",
        gift_aid_postcode="LS1 1AA",
    )
    paid = _give(sessions, settings, fake_stripe, form)
    fee = intents.fee_for(settings, 750)
    assert fee > 0 and paid["amount_total"] == 750 + fee
    deliver(processor, fake_stripe.event("checkout.session.completed", paid))
    deliver(processor, fake_stripe.event("invoice.paid", fake_stripe.invoice(paid)))
    [receipt] = sender.sent
    mail = render_receipt(settings, receipt)
    total = f"£{(750 + fee) / 100:.2f}"
    for text in (mail.text, _words(mail.html)):
        assert text.count("Thank you") == 1, text
        assert settings.receipt_wording in text
        assert "Your monthly gift" in text and "Amount given: £7.50 a month" in text
        assert f"Card fee you covered: £{fee / 100:.2f}" in text
        assert f"Total paid: {total}" in text
        assert "Gift Aid: you made this declaration" in text
        assert settings.gift_aid_wording in text
        assert "Ann Smith, 1 High Street, Leeds, LS1 1AA" in text


def test_a_one_time_gift_without_extras_says_so_and_no_more(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    form = intents.DonationForm(amount_minor=2500, frequency=Frequency.ONCE)
    paid = _give(sessions, stripe_settings, fake_stripe, form)
    deliver(processor, fake_stripe.event("checkout.session.completed", paid))
    [receipt] = sender.sent
    text = render_receipt(stripe_settings, receipt).text
    assert text.count("Thank you") == 1
    assert "Your one-time gift" in text and "Amount given: £25\n" in text
    assert "Card fee" not in text and "Gift Aid" not in text and "a month" not in text


def test_a_receipt_sent_later_states_the_same(
    sessions: sessionmaker[Session],
    stripe_settings: Settings,
    fake_stripe: FakeStripe,
) -> None:
    """A receipt that failed at first and is sent by reconcile reads from the stored gift."""
    failing = RecordingSender(fail=True)
    gateway = StripeGateway(SECRET_KEY, api_base=fake_stripe.url, retries=0)
    processor = WebhookProcessor(
        sessions,
        secrets=[WEBHOOK_SECRET],
        livemode=False,
        receipts=failing,
        invoice_paid_by=gateway.invoice_paid_by,
    )
    settings = stripe_settings.model_copy(update={"gift_aid": True, "cover_fees": True})
    form = intents.DonationForm(
        amount_minor=1000,
        frequency=Frequency.ONCE,
        cover_fees=True,
        gift_aid=True,
        gift_aid_name="Bo",
        gift_aid_address="2 Low Road",
        gift_aid_postcode="X",
    )
    paid = _give(sessions, settings, fake_stripe, form)
    deliver(processor, fake_stripe.event("checkout.session.completed", paid))
    later = RecordingSender()
    assert send_pending(sessions, later) == 1
    [receipt] = later.sent
    fee = intents.fee_for(settings, 1000)
    assert (receipt.given, receipt.fee) == ("£10", f"£{fee / 100:.2f}")
    assert receipt.declaration is not None and receipt.declaration.name == "Bo"
    assert receipt.frequency == "once"
