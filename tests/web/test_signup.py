"""The confirmation email: a transactional message whose link works and whose content is safe."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default

from newsletter import links, signup, tokens
from newsletter.config import Settings
from newsletter.mail.transports.memory import MemoryTransport


def test_the_confirmation_message(settings: Settings) -> None:
    outbox = MemoryTransport()
    hostile = 'Zoë <script>alert("x")</script>'
    confirmation = signup.Confirmation(
        42, "zoe@example.org", hostile, ("Ukraine", "Arms & control")
    )
    signup.send_confirmation(settings, outbox, None, confirmation)
    [sent] = outbox.sent
    assert (sent.sender, sent.recipient) == (settings.sender_address, "zoe@example.org")
    message = email.message_from_bytes(sent.message, policy=default)
    assert isinstance(message, EmailMessage)
    assert message["List-Unsubscribe"] is None  # transactional, not bulk mail
    assert "confirm" in str(message["Subject"]).lower()
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = str(text_part.get_content()), str(html_part.get_content())
    url = next(
        word for word in text.split() if word.startswith(f"{settings.public_base_url}/confirm/")
    )
    payload = tokens.verify(settings.secret, links.CONFIRM, url.rsplit("/", 1)[1], max_age=60)
    assert payload["s"] == 42
    assert url in html and 'lang="en"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Arms &amp; control" in html and "Arms & control" in text
    assert "7 days" in text


def test_wording_names_the_topics(settings: Settings) -> None:
    assert signup.wording(settings, []).startswith(
        f"I want to receive {settings.organisation_name}"
    )
    chosen = signup.wording(settings, ["Ukraine", "Arms control"])
    assert "briefings by email (topics I follow: Ukraine, Arms control)." in chosen
