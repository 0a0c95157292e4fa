"""A transport that keeps messages in a list: for tests and dry runs.

It can be told to answer ``transient`` or ``permanent`` for chosen recipients, or to
be unreachable, so callers can be tested against every answer a real server gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.errors import TransportError
from newsletter.mail.message import check_value
from newsletter.mail.transports.base import ClosesOnExit, Delivery, DeliveryStatus

_DEFAULT_REPLIES = {
    DeliveryStatus.SENT: (250, "2.0.0 Ok: kept in memory"),
    DeliveryStatus.TRANSIENT: (451, "4.3.0 Try again later"),
    DeliveryStatus.PERMANENT: (550, "5.1.1 No such user"),
}


@dataclass(frozen=True)
class Sent:
    sender: str
    recipient: str
    message: bytes


class MemoryTransport(ClosesOnExit):
    """Records ``(sender, recipient, bytes)`` of every accepted message in ``sent``."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self.closed = False
        self.failure: TransportError | None = None  # raised by every send() while set
        self._answers: dict[str, Delivery] = {}

    def answer(
        self, recipient: str, status: DeliveryStatus, code: int | None = None, reply: str = ""
    ) -> None:
        """Make every later send to ``recipient`` get this answer."""
        default_code, default_reply = _DEFAULT_REPLIES[status]
        self._answers[recipient.lower()] = Delivery(
            status, code or default_code, reply or default_reply
        )

    def send(self, sender: str, recipient: str, message: bytes) -> Delivery:
        check_value("envelope sender", sender)
        check_value("envelope recipient", recipient)
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        answer = self._answers.get(recipient.lower())
        if answer is not None and answer.status is not DeliveryStatus.SENT:
            return answer
        self.sent.append(Sent(sender, recipient, message))
        return answer or Delivery(DeliveryStatus.SENT, *_DEFAULT_REPLIES[DeliveryStatus.SENT])

    def to(self, recipient: str) -> list[Sent]:
        """Everything accepted for ``recipient`` (case-insensitive)."""
        return [s for s in self.sent if s.recipient.lower() == recipient.lower()]

    def close(self) -> None:
        self.closed = True
