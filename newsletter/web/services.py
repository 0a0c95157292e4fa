"""The adapters the public pages use: built once by the app factory, given to routes as
FastAPI dependencies, so a test overrides a dependency instead of reaching into the app.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from newsletter import wiring
from newsletter.config import Settings
from newsletter.mail.dkim import Signer
from newsletter.mail.transports.base import Transport
from newsletter.web.ratelimit import RateLimiter

PER_IP = (20, 3600.0)  # subscribe attempts per IP address per hour
PER_ADDRESS = (3, 3600.0)  # confirmation mails per address per hour


class Outbox:
    """Where the pages' own mail (confirmations) goes: a connection opened for each
    message and closed after it, signed with the DKIM key (read once, on first use)."""

    def __init__(self, connect: Callable[[], Transport], signer: Callable[[], Signer | None]):
        self.connect = connect
        self._signer = functools.cache(signer)

    @property
    def signer(self) -> Signer | None:
        return self._signer()

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        return cls(lambda: wiring.transport(settings), lambda: wiring.signer(settings))


@dataclass(frozen=True)
class SubscribeLimits:
    """Subscribe attempts per client network, and confirmation mails per address."""

    per_ip: RateLimiter
    per_address: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> SubscribeLimits:
        secret = settings.secret
        return cls(
            RateLimiter(sessions, "subscribe-ip", *PER_IP, secret=secret),
            RateLimiter(sessions, "subscribe-address", *PER_ADDRESS, secret=secret),
        )


def outbox(request: Request) -> Outbox:
    found: Outbox = request.app.state.outbox
    return found


def subscribe_limits(request: Request) -> SubscribeLimits:
    found: SubscribeLimits = request.app.state.subscribe_limits
    return found


Mail = Annotated[Outbox, Depends(outbox)]
Limits = Annotated[SubscribeLimits, Depends(subscribe_limits)]
