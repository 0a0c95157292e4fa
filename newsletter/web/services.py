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
from newsletter.donations.gateway import Gateway
from newsletter.donations.receipts.background import ReceiptCourier
from newsletter.donations.receipts.helper_process import ProcessMailer
from newsletter.donations.webhook import WebhookProcessor, processor_for
from newsletter.mail.dkim import Signer
from newsletter.mail.transports.base import Transport
from newsletter.web.ratelimit import RateLimiter

PER_IP = (20, 3600.0)  # subscribe attempts per IP address per hour
PER_ADDRESS = (3, 3600.0)  # confirmation mails per address per hour
DONATE_PER_IP = (10, 600.0)  # donate form submissions per IP address per ten minutes
MANAGE_PER_IP = (5, 3600.0)  # "manage my gift" link requests per IP address per hour
MANAGE_PER_ADDRESS = 3  # manage-link emails to one address per hour, from anywhere


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


@dataclass(frozen=True)
class DonateLimits:
    """Donate form submissions per client network; "manage my gift" link requests per
    network and per address (many connections must not flood one donor's inbox)."""

    per_ip: RateLimiter
    manage_per_ip: RateLimiter
    manage_per_address: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> DonateLimits:
        secret = settings.secret
        return cls(
            RateLimiter(sessions, "donate", *DONATE_PER_IP, secret=secret),
            RateLimiter(sessions, "manage", *MANAGE_PER_IP, secret=secret),
            RateLimiter(sessions, "manage-address", MANAGE_PER_ADDRESS, 3600.0, secret=secret),
        )


@dataclass(frozen=True)
class Donations:
    """What the donation pages and the Stripe webhook use: the Stripe gateway (None
    without a secret key), the webhook's processor (None without a webhook secret),
    and the courier sending receipts from a helper process after the answer."""

    gateway: Gateway | None
    webhooks: WebhookProcessor | None
    courier: ReceiptCourier
    mailer: ProcessMailer
    limits: DonateLimits

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> Donations:
        """Nothing is started here: the helper process and the courier's threads start
        with the first receipt."""
        gateway = wiring.stripe_gateway(settings)
        mailer = ProcessMailer(settings, wiring.donor_mailer)
        return cls(
            gateway=gateway,
            webhooks=processor_for(settings, sessions, mailer, gateway),
            courier=ReceiptCourier(sessions, mailer),
            mailer=mailer,
            limits=DonateLimits.from_settings(settings, sessions),
        )

    def close(self) -> None:
        """Send the receipts still queued, then stop the helper (the app is stopping)."""
        self.courier.close()
        self.mailer.close()


def outbox(request: Request) -> Outbox:
    found: Outbox = request.app.state.outbox
    return found


def subscribe_limits(request: Request) -> SubscribeLimits:
    found: SubscribeLimits = request.app.state.subscribe_limits
    return found


Mail = Annotated[Outbox, Depends(outbox)]
Limits = Annotated[SubscribeLimits, Depends(subscribe_limits)]


# The donation adapters are read by coroutines: a plain function dependency would cost
# each webhook delivery a trip through the thread pool.
async def donations(request: Request) -> Donations:
    found: Donations = request.app.state.donations
    return found


async def stripe_gateway(donations: Annotated[Donations, Depends(donations)]) -> Gateway | None:
    return donations.gateway


async def stripe_webhooks(
    donations: Annotated[Donations, Depends(donations)],
) -> WebhookProcessor | None:
    return donations.webhooks


async def receipt_courier(donations: Annotated[Donations, Depends(donations)]) -> ReceiptCourier:
    return donations.courier


async def donate_limits(donations: Annotated[Donations, Depends(donations)]) -> DonateLimits:
    return donations.limits


Stripe = Annotated[Gateway | None, Depends(stripe_gateway)]
Webhooks = Annotated[WebhookProcessor | None, Depends(stripe_webhooks)]
Courier = Annotated[ReceiptCourier, Depends(receipt_courier)]
GiftLimits = Annotated[DonateLimits, Depends(donate_limits)]
