"""Alembic environment: run with the engine passed in ``config.attributes``.

Migrations are split into branches, one per domain (``subscribers``, ``campaigns``,
``donations``), upgraded together with ``heads``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import newsletter.models  # noqa: F401  (registers every table on the metadata)
from subscribers.orm import FOREIGN_KEYS_OFF, Base

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table by rebuilding it; with enforcement on, dropping the old
        # table would cascade to every row that refers to it. Off for the migration
        # (the pragma only works outside a transaction), checked in bulk at the end;
        # should the migration fail, the pool turns it back on when the connection
        # is returned.
        connection.info[FOREIGN_KEYS_OFF] = True
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            connection.rollback()
            raise RuntimeError(f"the migration left rows that refer to nothing: {broken[:5]}")
    connection.commit()
