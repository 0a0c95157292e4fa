"""One batch's rows on their way to the lanes that send them.

Each lane (one SMTP connection) takes the next row when it is free, so a slow
connection does not hold rows another could send; the first connection-level error
any lane meets stops them all (``Abort``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from newsletter.campaigns.ledger import Claimed
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.campaigns.envelope import Composer, CopyStream, Envelope


class Abort:
    """Shared between lanes of one batch: the first connection-level error wins."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.unavailable: str | None = None
        self.rejected: str | None = None

    @property
    def set(self) -> bool:
        return self.unavailable is not None or self.rejected is not None


class Feed:
    """The batch's rows with their envelopes, handed out one at a time to the lanes.

    Lanes take the next row when they are free, so a slow connection does not hold
    rows another could send. Copies come from the helper processes (``composing``),
    already under way, or are composed here by the lane that takes the row.
    """

    def __init__(
        self, rows: Sequence[Claimed], composer: Composer, composing: CopyStream | None
    ) -> None:
        self._rows = iter(rows)
        self._composer = composer
        self._composing = composing
        self._dropped: set[int] = set()
        self._lock = threading.Lock()

    def drop(self, row_ids: set[int]) -> None:
        """Do not hand out these rows (their copies, if composed, are thrown away)."""
        with self._lock:
            self._dropped |= row_ids

    def next(self) -> tuple[Claimed, Envelope | NewsletterError] | None:
        """The next row and its copy (None: no row left); raises if the helpers failed."""
        with self._lock:
            while True:
                row = next(self._rows, None)
                if row is None:
                    return None
                made = next(self._composing) if self._composing is not None else None
                if row.id in self._dropped:
                    continue
                if made is not None:
                    return row, made
                break
        try:
            return row, self._composer.compose(row)
        except NewsletterError as exc:
            return row, exc

    def close(self) -> None:
        with self._lock:
            self._rows = iter(())
            if self._composing is not None:
                self._composing.close()
