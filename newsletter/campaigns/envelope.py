"""What the sending side needs from composing: an envelope per row, and where it comes from.

Small interfaces, so the loop and the lanes know nothing of rendering, identities or
signers: a ``Composer`` (made once per campaign) turns a claimed row into an
``Envelope``; ``ComposeHelpers`` (the helper processes of ``pool``) start many copies
at once and hand them back as a ``CopyStream``, in row order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from newsletter.campaigns.ledger import Claimed
from newsletter.errors import NewsletterError


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str  # the VERP return path
    recipient: str
    message: bytes
    message_id: str


class Composer(Protocol):
    """Builds one recipient's signed message; made once per campaign."""

    def compose(self, row: Claimed) -> Envelope: ...


class CopyStream(Protocol):
    """Copies under way elsewhere, in row order; ``close`` cancels the rest."""

    def __next__(self) -> Envelope | NewsletterError: ...

    def close(self) -> None: ...


class ComposeHelpers(Protocol):
    """Composes many rows elsewhere (helper processes), starting at once."""

    def compose(self, campaign_id: int, rows: Sequence[Claimed]) -> CopyStream: ...

    def start(self, campaign_ids: Sequence[int] = ()) -> None: ...

    def close(self) -> None: ...
