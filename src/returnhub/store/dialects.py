"""What differs between SQLite and PostgreSQL for the statements we write by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def dialect_of(executor: Session | Connection) -> str:
    return (
        executor.get_bind().dialect.name if isinstance(executor, Session) else executor.dialect.name
    )


def upsert(dialect: str, table: Any) -> Any:
    """``INSERT`` that supports ``on_conflict_do_nothing`` (both engines spell it alike)."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


# Set in a session's info by work that, on any IntegrityError, rolls back and redoes itself
# another way (the worker's batches, which fall back to one job at a time).
ALL_OR_NOTHING = "returnhub.all_or_nothing"


def add_unique(session: Session, row: object) -> bool:
    """Add a row with a unique key another transaction may insert first; False (and nothing
    added) when one did, so the caller uses theirs. On PostgreSQL that needs a savepoint and a
    flush to find out. On SQLite a write transaction holds the database's only write lock
    (BEGIN IMMEDIATE), so no such race exists and the row joins the session's next flush; so
    does it in an all-or-nothing session, whose whole transaction is the savepoint."""
    if dialect_of(session) != "postgresql" or session.info.get(ALL_OR_NOTHING):
        session.add(row)
        return True
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True
