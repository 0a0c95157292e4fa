"""Other integrations on the same Stripe account (a shop, a membership) are no donations."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.donations.models import RecurringGift
from newsletter.donations.webhook import WebhookProcessor
from tests.donations.conftest import RecordingSender, deliver
from tests.donations.fake_stripe import FakeStripe
from tests.donations.helpers import gifts


def foreign_checkout(fake: FakeStripe, mode: str, reference: str | None) -> dict[str, Any]:
    """A paid session some other integration created: no intent of ours, and perhaps
    the shop's own order number in ``client_reference_id``."""
    session: dict[str, Any] = copy.deepcopy(fake.fixtures["checkout.session"])
    session.update(
        id=f"cs_test_shop_{mode}",
        mode=mode,
        status="complete",
        payment_status="paid",
        amount_total=1500,
        currency="gbp",
        metadata={},
        client_reference_id=reference,
        customer="cus_member",
        customer_details={"email": "m@example.org", "name": "M"},
        payment_intent="pi_shop" if mode == "payment" else None,
        subscription="sub_membership" if mode == "subscription" else None,
        livemode=False,
    )
    return session


REFERENCES = [None, "order-1042"]


@pytest.mark.parametrize("reference", REFERENCES)
def test_a_shop_sale_is_no_gift_and_gets_no_receipt(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    fake_stripe: FakeStripe,
    reference: str | None,
) -> None:
    sale = foreign_checkout(fake_stripe, "payment", reference)
    result = deliver(processor, fake_stripe.event("checkout.session.completed", sale))
    assert result.outcome.startswith("ignored")
    assert gifts(sessions) == [] and sender.sent == []


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("invoice_first", [False, True])
def test_a_membership_and_its_invoices_are_no_gifts_in_either_order(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    fake_stripe: FakeStripe,
    invoice_first: bool,
    reference: str | None,
) -> None:
    member = foreign_checkout(fake_stripe, "subscription", reference)
    checkout = fake_stripe.event("checkout.session.completed", member)
    invoice = fake_stripe.event("invoice.paid", fake_stripe.invoice(member))
    renewal = fake_stripe.event(
        "invoice.paid", fake_stripe.invoice(member, reason="subscription_cycle")
    )
    order = [invoice, checkout, renewal] if invoice_first else [checkout, invoice, renewal]
    for event in order:
        outcome = deliver(processor, event).outcome
        assert outcome.startswith(("ignored", "not a subscription")), outcome
    assert gifts(sessions) == [] and sender.sent == []
    with sessions() as session:
        assert session.scalar(select(RecurringGift)) is None


@pytest.mark.parametrize(
    "order",
    [
        ("customer.subscription.updated", "invoice.paid", "checkout.session.completed"),
        ("invoice.paid", "customer.subscription.updated", "checkout.session.completed"),
        ("checkout.session.completed", "invoice.paid", "customer.subscription.updated"),
        ("invoice.payment_failed", "invoice.paid", "customer.subscription.deleted"),
    ],
)
def test_another_integrations_intent_field_is_not_ours_in_any_order(
    processor: WebhookProcessor,
    sender: RecordingSender,
    sessions: sessionmaker[Session],
    fake_stripe: FakeStripe,
    order: tuple[str, ...],
) -> None:
    """A membership system that also writes ``intent`` into its metadata: the field is
    there, but it names no donation intent of ours, so nothing is recorded or receipted."""
    member = foreign_checkout(fake_stripe, "subscription", None)
    member["metadata"] = {"intent": "pi_membership_renewal"}
    subscription = dict(
        fake_stripe.fixtures["subscription"],
        id="sub_membership",
        customer="cus_member",
        status="active",
        metadata={"intent": "pi_membership_renewal"},
    )
    invoice = fake_stripe.invoice(member)
    objects = {
        "checkout.session.completed": member,
        "invoice.paid": invoice,
        "invoice.payment_failed": invoice,
        "customer.subscription.updated": subscription,
        "customer.subscription.deleted": dict(subscription, status="canceled"),
    }
    for type_ in order:
        outcome = deliver(processor, fake_stripe.event(type_, objects[type_])).outcome
        assert outcome.startswith(("ignored", "not a subscription")), (type_, outcome)
    assert gifts(sessions) == [] and sender.sent == []
    with sessions() as session:
        assert session.scalar(select(RecurringGift)) is None
