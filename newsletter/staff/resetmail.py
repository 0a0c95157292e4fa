"""The password-reset email a staff member asks for on the sign-in page."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.mail import identities, transactional
from newsletter.mail.dkim import Signer
from newsletter.mail.message import build_message


def reset_message(settings: Settings, signer: Signer | None, email: str, url: str) -> bytes:
    """A signed (when DKIM is set up) message with the one-time link. Pure but for signing keys."""
    subject = f"Choose a new password for the {settings.organisation_name} console"
    rendered = transactional.render(settings, "staff-reset", subject, url=url)
    return build_message(
        identities.identity(settings, kind="staff"),
        to_address=email,
        to_name="",
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        unsubscribe_url=None,
        unsubscribe_mailto=None,
        signer=signer,
    )
