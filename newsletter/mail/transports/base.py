"""The one interface every transport offers, and what a delivery attempt returns.

A transport answers per recipient: ``sent``, ``transient`` (4xx, try later) or
``permanent`` (5xx, this address will not work). Problems that are not about the
recipient (connection refused, login rejected, our relay refusing us by policy)
raise ``TransportError`` subclasses instead, so a campaign can stop or back off
rather than marking thousands of good addresses bad.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from newsletter.errors import TransportError


class DeliveryStatus(enum.StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Delivery:
    status: DeliveryStatus
    code: int = 250
    reply: str = ""


class TransportUnavailable(TransportError):
    """Cannot reach or talk to the server now (refused, timed out, 421): retry later."""


class TransportRejected(TransportError):
    """The server refuses *us* (535 bad login, 5.7.x policy on our relay): stop and tell staff."""


class Transport(Protocol):
    def send(self, sender: str, recipient: str, message: bytes) -> Delivery:
        """Deliver ``message`` (bytes, CRLF or LF) with envelope ``sender`` -> ``recipient``."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ClosesOnExit:
    """``with transport:`` closes it on the way out, whatever happened inside."""

    def close(self) -> None:
        """Release what the transport holds open (nothing, by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
