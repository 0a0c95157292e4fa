"""The one place that turns ``Settings`` into concrete adapters (database, transport, Stripe)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter import database
from newsletter.config import Settings


def engine(settings: Settings) -> Engine:
    """An up-to-date database engine for these settings."""
    return database.open_database(settings.database_url)


def sessions(settings: Settings) -> sessionmaker[Session]:
    return database.session_factory(engine(settings))
