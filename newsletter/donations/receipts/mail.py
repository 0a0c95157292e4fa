"""Emails to donors: the receipt and the "manage my monthly gift" link.

Rendering is pure (templates in ``templates/email``, sandboxed Jinja2, MJML for
the HTML part). Building and delivering use the shared mail pieces: a
transactional message from ``newsletter.mail.message.build_message`` (no
unsubscribe headers: a receipt is not bulk mail) and the transport and
signer the caller built (``newsletter.wiring``: the Maildir outbox by default).
"""

from __future__ import annotations

from collections.abc import Callable

from newsletter.config import Settings
from newsletter.donations.receipts.content import Receipt
from newsletter.errors import TransportError
from newsletter.mail import identities
from newsletter.mail.dkim import Signer
from newsletter.mail.message import build_message
from newsletter.mail.transactional import Rendered, render
from newsletter.mail.transports.base import DeliveryStatus, Transport


class ReceiptNotSent(TransportError):
    """The transport did not accept the receipt; it stays pending for a retry."""


def render_receipt(settings: Settings, receipt: Receipt) -> Rendered:
    subject = f"Thank you for your gift to {settings.organisation_name}"
    return render(
        settings,
        "receipt",
        subject,
        receipt=receipt,
        manage_url=f"{settings.public_base_url}/donate/manage",
    )


def render_manage_link(settings: Settings, url: str) -> Rendered:
    return render(settings, "manage-link", "Manage your monthly gift", url=url)


class DonorMailer:
    """Implements ``ReceiptSender``; also sends the billing-portal magic link."""

    def __init__(
        self,
        settings: Settings,
        *,
        signer: Signer | None,
        transport: Callable[[], Transport],
    ) -> None:
        """``transport``: a new connection for each message, closed after it."""
        self.settings = settings
        self.signer = signer
        self.transport = transport
        self.identity = identities.identity(settings, kind="donation")

    def send(self, receipt: Receipt) -> None:
        self.deliver(receipt.to_address, receipt.to_name, render_receipt(self.settings, receipt))

    def send_manage_link(self, to_address: str, url: str) -> None:
        self.deliver(to_address, "", render_manage_link(self.settings, url))

    def build(self, to_address: str, to_name: str, mail: Rendered) -> bytes:
        """A transactional message (no unsubscribe headers), DKIM-signed when configured."""
        return build_message(
            self.identity,
            to_address=to_address,
            to_name=to_name,
            subject=mail.subject,
            html=mail.html,
            text=mail.text,
            unsubscribe_url=None,
            unsubscribe_mailto=None,
            signer=self.signer,
        )

    def deliver(self, to_address: str, to_name: str, mail: Rendered) -> None:
        message = self.build(to_address, to_name, mail)
        with self.transport() as transport:
            delivery = transport.send(self.settings.sender_address, to_address, message)
        if delivery.status != DeliveryStatus.SENT:
            raise ReceiptNotSent(f"{to_address}: {delivery.code} {delivery.reply}")
