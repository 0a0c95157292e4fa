"""Subscribing through the web: record the request, then mail a confirmation link.

The database work is one short transaction and the mail goes out after it, so a
slow mail server never holds a database lock. Whether the address was new,
pending or already active, the caller shows the same page (no enumeration); the
active only get no mail, so nobody can flood them or change their topics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from newsletter import links
from newsletter.config import Settings
from newsletter.database import transaction
from newsletter.mail import identities, transactional
from newsletter.mail.dkim import Signer
from newsletter.mail.message import build_message, check_address
from newsletter.mail.transactional import Rendered
from newsletter.mail.transports.base import Delivery
from subscribers import consent, lists, optin, people
from subscribers import topics as topics_

FORM = "web:subscribe"
WORDING = (
    "I want to receive {organisation} briefings by email{topics}. "
    "I can unsubscribe at any time with the link in every email."
)
TOPICS = " (topics I follow: {topics})"


class Sender(Protocol):
    """What delivers the confirmation: any transport (Maildir, SMTP, memory)."""

    def send(self, sender: str, recipient: str, message: bytes) -> Delivery: ...


@dataclass(frozen=True)
class Confirmation:
    """Who to mail after the transaction: enough to build the message."""

    subscriber_id: int
    email: str
    name: str
    topics: tuple[str, ...]


def wording(settings: Settings, topics: Iterable[str]) -> str:
    """The sentence the form shows and the consent log keeps, with the chosen topics."""
    chosen = ", ".join(topics)
    return WORDING.format(
        organisation=settings.organisation_name,
        topics=TOPICS.format(topics=chosen) if chosen else "",
    )


def render_confirmation(
    settings: Settings, *, name: str, confirm_url: str, topics: Iterable[str]
) -> Rendered:
    """The confirmation email's subject, HTML (MJML) and plain text. Pure."""
    subject = f"Please confirm your subscription to {settings.organisation_name}"
    return transactional.render(
        settings,
        "confirm",
        subject,
        name=name,
        confirm_url=confirm_url,
        topics=list(topics),
        valid_days=links.CONFIRM_MAX_AGE // 86400,
    )


def confirmation_message(
    settings: Settings, signer: Signer | None, confirmation: Confirmation
) -> bytes:
    """The signed (when DKIM is set up) transactional message with the confirm link."""
    url = links.confirm_url(settings, confirmation.subscriber_id)
    rendered = render_confirmation(
        settings, name=confirmation.name, confirm_url=url, topics=confirmation.topics
    )
    return build_message(
        identities.identity(settings, kind="confirm"),
        to_address=confirmation.email,
        to_name=confirmation.name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        unsubscribe_url=None,
        unsubscribe_mailto=None,
        signer=signer,
    )


def request(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    address: str,
    name: str = "",
    language: str = "",
    topics: Iterable[str] = (),
    ip: str = "",
    user_agent: str = "",
) -> Confirmation | None:
    """Record a subscribe form; the confirmation to send, or None when none is due.

    Everyone joins the default list (``NEWSLETTER_DEFAULT_LIST``); ``topics`` are topic
    slugs from the form, optional, and only public, non-archived topics count.
    Raises ``InvalidAddress`` for an address that cannot be used.
    """
    with transaction(sessions) as session:
        default = lists.ensure_default(session, settings.default_list)
        offered = {m.slug: m for m in topics_.public_topics(session)}
        chosen = [offered[slug] for slug in dict.fromkeys(topics) if slug in offered]
        names = [m.name for m in chosen]
        context = consent.Context(
            form=FORM, wording=wording(settings, names), ip=ip, user_agent=user_agent
        )
        outcome = optin.request_subscription(
            session,
            address,
            context,
            name=name,
            language=language or settings.language,
            topics=chosen,
            lists=[default],
        )
        person = outcome.subscriber
        if not outcome.send_confirmation or person is None:
            return None
        shown = tuple(m.name for m in people.memberships(session, person)[1])
        return Confirmation(person.id, person.email, person.name, shown)


def send_confirmation(
    settings: Settings, sender: Sender, signer: Signer | None, confirmation: Confirmation
) -> Delivery:
    """Build and hand over the confirmation message; the transport's answer is returned."""
    message = confirmation_message(settings, signer, confirmation)
    # The envelope carries the address as the To header does: IDN domains in punycode.
    return sender.send(settings.sender_address, check_address(confirmation.email), message)
