"""Per-connector health: successes, failures, the last error, and whether it needs a person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.connectors.errors import DeliveryError, ErrorClass
from returnhub.store.dialects import dialect_of, upsert
from returnhub.store.tables import ConnectorHealth


def _row(session: Session, connector: str) -> ConnectorHealth:
    # Insert-if-missing first: concurrent first results for one connector would otherwise both
    # insert, and the loser's whole transaction (the job's own outcome with it) would roll back.
    session.execute(
        upsert(dialect_of(session), ConnectorHealth)
        .values(
            connector=connector,
            healthy=True,
            successes=0,
            failures=0,
            consecutive_failures=0,
            last_error="",
        )
        .on_conflict_do_nothing(index_elements=["connector"])
    )
    row = session.scalar(
        select(ConnectorHealth).where(ConnectorHealth.connector == connector).with_for_update()
    )
    assert row is not None
    return row


def record_success(session: Session, connector: str, now: datetime, count: int = 1) -> None:
    row = _row(session, connector)
    row.successes += count
    row.consecutive_failures = 0
    row.healthy = True
    row.last_success_at = now


def record_failure(session: Session, connector: str, error: DeliveryError, now: datetime) -> None:
    row = _row(session, connector)
    row.failures += 1
    row.consecutive_failures += 1
    row.last_error_at = now
    row.last_error = f"{error.error_class.value}: {error.message}"[:2000]
    if error.error_class is ErrorClass.CONFIGURATION:
        row.healthy = False


def all_health(session: Session) -> list[ConnectorHealth]:
    return list(session.scalars(select(ConnectorHealth).order_by(ConnectorHealth.connector)))
