"""The inbox: inbound events stored exactly once, then applied off the request path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.orm import Session

from returnhub.delivery import outbox
from returnhub.domain.ids import Prefix, new_id
from returnhub.store.dialects import dialect_of, upsert
from returnhub.store.tables import InboxEvent

APPLY_JOB = "inbox.apply"


class InboxStatus(StrEnum):
    RECEIVED = "received"
    APPLIED = "applied"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True)
class Accepted:
    inbox_id: str
    duplicate: bool


def accept(
    session: Session | Connection,
    *,
    source: str,
    dedupe_key: str,
    event_type: str,
    body: bytes,
    headers: Mapping[str, str],
    lock_key: str | None,
) -> Accepted:
    """Store the event and schedule its application, in the caller's transaction.

    A second delivery of the same event (same dedupe key) changes nothing.
    """
    public_id = new_id(Prefix.INBOX)
    inserted = session.execute(
        _insert_statement(dialect_of(session)),
        {
            "public_id": public_id,
            "source": source,
            "dedupe_key": dedupe_key,
            "event_type": event_type[:100],
            "headers": dict(headers),
            "body": body.decode("utf-8"),
            "status": InboxStatus.RECEIVED.value,
        },
    ).scalar()
    if inserted is None:
        existing = session.scalar(
            select(InboxEvent.public_id).where(
                InboxEvent.source == source, InboxEvent.dedupe_key == dedupe_key
            )
        )
        return Accepted(str(existing), duplicate=True)
    outbox.enqueue(
        session,
        APPLY_JOB,
        {"inbox_id": public_id},
        connector=source,
        lock_key=lock_key,
        dedupe_key=f"apply:{public_id}",
    )
    return Accepted(public_id, duplicate=False)


@cache
def _insert_statement(dialect: str) -> Any:
    """Built once per dialect; executed with parameters on every webhook."""
    table = cast(Table, InboxEvent.__table__)
    return (
        upsert(dialect, table)
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
        .returning(table.c.public_id)
    )


def load(session: Session, public_id: str) -> InboxEvent | None:
    return session.scalar(select(InboxEvent).where(InboxEvent.public_id == public_id))


def payload_of(event: InboxEvent) -> dict[str, Any]:
    data = json.loads(event.body)
    return data if isinstance(data, dict) else {"_": data}


def mark(session: Session, public_id: str, status: InboxStatus, detail: str, now: datetime) -> None:
    session.execute(
        update(InboxEvent)
        .where(InboxEvent.public_id == public_id)
        .values(status=status.value, detail=detail[:4000], processed_at=now)
    )


def list_events(
    session: Session,
    *,
    source: str | None = None,
    status: InboxStatus | None = None,
    limit: int = 50,
    after: int | None = None,
) -> list[InboxEvent]:
    query = select(InboxEvent).order_by(InboxEvent.id.desc()).limit(limit)
    if source is not None:
        query = query.where(InboxEvent.source == source)
    if status is not None:
        query = query.where(InboxEvent.status == status.value)
    if after is not None:
        query = query.where(InboxEvent.id < after)
    return list(session.scalars(query))
