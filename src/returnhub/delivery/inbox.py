"""The inbox: inbound events stored exactly once, then applied off the request path."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, case, select, update
from sqlalchemy.orm import Session

from returnhub.delivery import outbox
from returnhub.domain.ids import Prefix, new_id
from returnhub.store.dialects import dialect_of, upsert
from returnhub.store.tables import InboxEvent

APPLY_JOB = "inbox.apply"
# A dedupe key with this prefix holds only until its event is applied (or ignored, or failed):
# marking the event renames the stored key, so an identical event arriving later is new.
UNTIL_APPLIED = "until-applied:"


class InboxStatus(StrEnum):
    RECEIVED = "received"
    APPLIED = "applied"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True)
class Accepted:
    inbox_id: str
    duplicate: bool


@dataclass(frozen=True)
class IncomingEvent:
    """A verified inbound event, as the intake hands it over for storage."""

    source: str
    dedupe_key: str
    event_type: str
    body: bytes
    headers: Mapping[str, str]
    lock_key: str | None


def accept_many(
    connection: Session | Connection, events: Sequence[IncomingEvent]
) -> list[Accepted]:
    """Store the events and schedule their application, in the caller's transaction, with two
    multi-row statements whatever the number of events (the intake commits concurrent webhooks
    together). An event whose dedupe key is already stored, by an earlier delivery or earlier
    in ``events``, changes nothing and answers with the stored event's id."""
    rows = [
        {
            "public_id": new_id(Prefix.INBOX),
            "source": event.source,
            "dedupe_key": event.dedupe_key,
            "event_type": event.event_type[:100],
            "headers": dict(event.headers),
            "body": event.body.decode("utf-8"),
            "status": InboxStatus.RECEIVED.value,
        }
        for event in events
    ]
    stored = {
        (source, key): public_id
        for public_id, source, key in connection.execute(
            _insert_statement(dialect_of(connection)), rows
        )
    }
    outbox.enqueue_many(
        connection,
        [
            outbox.NewJob(
                APPLY_JOB,
                {"inbox_id": row["public_id"]},
                connector=event.source,
                lock_key=event.lock_key,
                dedupe_key=f"apply:{row['public_id']}",
            )
            for row, event in zip(rows, events, strict=True)
            if stored.get((event.source, event.dedupe_key)) == row["public_id"]
        ],
    )
    missing = [(e.source, e.dedupe_key) for e in events if (e.source, e.dedupe_key) not in stored]
    if missing:
        for source, key in missing:
            stored[(source, key)] = str(
                connection.scalar(
                    select(InboxEvent.public_id).where(
                        InboxEvent.source == source, InboxEvent.dedupe_key == key
                    )
                )
            )
    answers = []
    for row, event in zip(rows, events, strict=True):
        public_id = stored[(event.source, event.dedupe_key)]
        answers.append(Accepted(public_id, duplicate=public_id != row["public_id"]))
    return answers


@cache
def _insert_statement(dialect: str) -> Any:
    """Built once per dialect; executed with the rows of each batch."""
    table = cast(Table, InboxEvent.__table__)
    return (
        upsert(dialect, table)
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
        .returning(table.c.public_id, table.c.source, table.c.dedupe_key)
    )


@dataclass(frozen=True)
class StoredEvent:
    """What applying an event reads of it (its source is the apply job's connector)."""

    event_type: str
    body: str


def load(session: Session, public_id: str) -> StoredEvent | None:
    # Core statements built once, on the session's connection: applying an event runs them
    # for every webhook, and the ORM's per-statement work would cost more than the read.
    row = session.connection().execute(_load_statement(), {"inbox_public_id": public_id}).first()
    return StoredEvent(*row) if row is not None else None


def payload_of(event: StoredEvent) -> dict[str, Any]:
    data = json.loads(event.body)
    return data if isinstance(data, dict) else {"_": data}


def mark(session: Session, public_id: str, status: InboxStatus, detail: str, now: datetime) -> None:
    session.connection().execute(
        _mark_statement(),
        {
            "inbox_public_id": public_id,
            "inbox_status": status.value,
            "inbox_detail": detail[:4000],
            "inbox_at": now,
        },
    )


@cache
def _load_statement() -> Any:
    table = cast(Table, InboxEvent.__table__)
    return select(table.c.event_type, table.c.body).where(
        table.c.public_id == bindparam("inbox_public_id")
    )


@cache
def _mark_statement() -> Any:
    table = cast(Table, InboxEvent.__table__)
    return (
        update(table)
        .where(table.c.public_id == bindparam("inbox_public_id"))
        .values(
            status=bindparam("inbox_status"),
            detail=bindparam("inbox_detail"),
            processed_at=bindparam("inbox_at", type_=table.c.processed_at.type),
            dedupe_key=case(
                (
                    table.c.dedupe_key.startswith(UNTIL_APPLIED, autoescape=True),
                    table.c.dedupe_key + "@" + table.c.public_id,
                ),
                else_=table.c.dedupe_key,
            ),
        )
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
