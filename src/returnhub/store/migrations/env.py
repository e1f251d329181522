"""Alembic environment: the engine comes from ``config.attributes`` (see store/migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from returnhub.store.tables import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `returnhub migrate` (store.migrate.upgrade)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
