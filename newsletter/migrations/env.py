"""Alembic environment: run with the engine passed in ``config.attributes``.

Migrations are split into branches, one per domain (``subscribers``, ``campaigns``,
``donations``), upgraded together with ``heads``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import newsletter.models  # noqa: F401  (registers every table on the metadata)
from subscribers.orm import Base

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
