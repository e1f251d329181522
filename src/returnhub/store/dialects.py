"""What differs between SQLite and PostgreSQL for the statements we write by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def dialect_of(executor: Session | Connection) -> str:
    return (
        executor.get_bind().dialect.name if isinstance(executor, Session) else executor.dialect.name
    )


def upsert(dialect: str, table: Any) -> Any:
    """``INSERT`` that supports ``on_conflict_do_nothing`` (both engines spell it alike)."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
