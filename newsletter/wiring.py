"""The one place that turns ``Settings`` into concrete adapters (database, transport, Stripe)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.config import Settings

if TYPE_CHECKING:
    from newsletter.donations.gateway import StripeGateway


def engine(settings: Settings) -> Engine:
    """An up-to-date database engine for these settings."""
    return database.open_database(settings.database_url)


def sessions(settings: Settings) -> sessionmaker[Session]:
    return database.session_factory(engine(settings))


def stripe_gateway(settings: Settings) -> StripeGateway | None:
    """The Stripe adapter, or None when no secret key is configured (the demo)."""
    from newsletter.donations.gateway import StripeGateway

    if settings.stripe_secret_key is None or not settings.stripe_secret_key.get_secret_value():
        return None
    return StripeGateway(
        settings.stripe_secret_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        timeout=settings.stripe_timeout,
    )
