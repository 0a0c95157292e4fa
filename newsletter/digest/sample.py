"""One briefing as a reader will get it, before anyone does: the preview and the test copy.

The console and the command line (``briefing render``, ``send-test``) show and send the same
thing: the digest rendered once, personalised for a sample reader or for one member of staff,
built into the whole signed message through the configured transport. ``first`` makes it the
copy of a reader who follows topics (``briefing.topics.first_for``): those sections first.
"""

from __future__ import annotations

import quopri
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.briefing.model import Briefing
from newsletter.config import Settings
from newsletter.digest import Personal, render_digest
from newsletter.digest.render import Digest, sample_person
from newsletter.errors import TransportError
from newsletter.links import recipient_links
from newsletter.mail import identities
from newsletter.mail.dkim import Signer
from newsletter.mail.message import check_address
from newsletter.mail.transports.base import DeliveryStatus, Transport

CLIP_BYTES = 100_000  # Gmail clips an HTML part past ~102 KB; keep a margin


class DeliveryRefused(TransportError):
    """The server answered the test copy with a transient or permanent failure."""


@dataclass(frozen=True)
class Preview:
    digest: Digest
    message: bytes
    headers: str
    html_encoded_bytes: int  # the HTML part quoted-printable encoded: what Gmail counts

    @property
    def clipped(self) -> bool:
        return self.html_encoded_bytes >= CLIP_BYTES


@dataclass(frozen=True)
class TestCopy:
    address: str
    subject: str
    size: int
    signed: bool
    code: int
    reply: str


def preview(
    briefing: Briefing, settings: Settings, signer: Signer | None, first: Sequence[int] = ()
) -> Preview:
    """The sample reader's complete message, DKIM-signed if configured."""
    digest = render_digest(briefing, settings, first)
    person = sample_person(settings, briefing)
    message = digest.message(identities.identity(settings, kind="preview"), person, signer)
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    encoded = len(quopri.encodestring(digest.html.encode()))
    return Preview(digest, message, head.replace("\r\n", "\n"), encoded)


def send_test(
    briefing: Briefing,
    settings: Settings,
    transport: Transport,
    signer: Signer | None,
    addresses: list[str],
    name: str = "",
    what: str = "test address",
    first: Sequence[int] = (),
) -> list[TestCopy]:
    """One fully personalised, signed copy to each address; every address is checked before
    the first copy goes, so a typo in the third sends none."""
    checked = [check_address(a.strip(), what) for a in addresses if a.strip()]
    digest = render_digest(briefing, settings, first)
    links = recipient_links(
        settings, subscriber_id=0, campaign_id=None, briefing_slug=briefing.slug
    )
    sent: list[TestCopy] = []
    with transport:
        for address in checked:
            message = digest.message(
                identities.identity(settings, kind="test"), Personal(name, address, links), signer
            )
            result = transport.send(settings.sender_address, address, message)
            if result.status is not DeliveryStatus.SENT:
                why = f"{result.status.value} failure {result.code} {result.reply}"
                raise DeliveryRefused(f"{address}: {why.rstrip()}")
            sent.append(
                TestCopy(
                    address,
                    digest.subject,
                    len(message),
                    signer is not None,
                    result.code,
                    result.reply,
                )
            )
    return sent
