"""Who our messages come from, by kind: worked out from settings, no adapter involved."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.mail.message import Identity


def identity(
    settings: Settings, *, campaign: str | int | None = None, kind: str = "digest"
) -> Identity:
    """Who a campaign's messages come from. ``Feedback-ID`` is ``campaign:kind:sender``,
    the same for every copy of one campaign (``0`` for messages outside a campaign)."""
    list_id = settings.list_id.strip()
    if list_id and "<" not in list_id:
        list_id = f"{settings.organisation_name} <{list_id}>"
    return Identity(
        from_address=settings.sender_address,
        from_name=settings.sender_name,
        reply_to=settings.reply_to.strip() or None,
        list_id=list_id,
        feedback_id=f"{0 if campaign is None else campaign}:{kind}:{settings.feedback_id_sender}",
        domain=settings.dkim_domain or settings.sender_address.rpartition("@")[2],
    )
