"""What a reader may type as their address and name: refused at the door, with one clear line.

Whatever the subscribe form or the preference centre accepts must later go into a
message, so these checks *are* the message builder's own (``check_address`` and
``check_value`` in ``newsletter.mail.message``): a name with a line break, or an
address only SMTPUTF8 could carry, used to be stored and then silently never mailed.
"""

from __future__ import annotations

from newsletter.errors import HeaderInjection, InvalidAddress, NewsletterError
from newsletter.mail.message import check_address, check_value
from subscribers.addresses import Address, normalise

MAX_NAME = 200  # characters; the column and the form's maxlength


class InvalidName(NewsletterError, ValueError):
    """A name that cannot go into a message header."""


def address(text: str) -> Address:
    """The normalised address, if the message builder can deliver to it; else ``InvalidAddress``
    with one sentence saying what is wrong."""
    found = normalise(text)  # its message names the address and what is wrong with it
    local = found.email.rpartition("@")[0]
    if not local.isascii():
        raise InvalidAddress(
            "We cannot deliver to addresses with accented or non-Latin letters before the @ "
            "yet; please use another address."
        )
    check_address(found.email)
    return found


def name(text: str) -> str:
    """The name as stored (trimmed), or ``InvalidName`` for control characters or length."""
    text = text.strip()
    try:
        check_value("name", text)
    except HeaderInjection:
        raise InvalidName("Your name cannot contain line breaks or control characters.") from None
    if len(text) > MAX_NAME:
        raise InvalidName(f"Your name is too long: at most {MAX_NAME} characters, please.")
    return text
