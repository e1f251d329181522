"""Group commit: items from many callers share transactions, each caller sees its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import Connection, func, select

from returnhub.delivery import inbox
from returnhub.delivery.inbox import Accepted, IncomingEvent
from returnhub.store.db import Database
from returnhub.store.group_commit import GroupCommitWriter
from returnhub.store.tables import InboxEvent, OutboxJob

Writer = GroupCommitWriter[IncomingEvent, Accepted]


def event(key: str) -> IncomingEvent:
    return IncomingEvent("loop", key, "return.created", b"{}", {}, None)


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        events = session.scalar(select(func.count()).select_from(InboxEvent)) or 0
        jobs = session.scalar(select(func.count()).select_from(OutboxJob)) or 0
    return events, jobs


@pytest.fixture
def writer(db: Database) -> Iterator[Writer]:
    group: Writer = GroupCommitWriter(db, inbox.accept_many, max_batch=8)
    yield group
    group.stop()


def test_concurrent_events_are_stored_once_and_each_caller_gets_its_answer(
    db: Database, writer: Writer
) -> None:
    async def many() -> list[Accepted]:
        return await asyncio.gather(*(writer.run(event(f"k{i % 40}")) for i in range(60)))

    results = asyncio.run(many())
    # 40 distinct events; the 20 repeats are duplicates of rows committed in the same batch or
    # an earlier one, and name the stored row.
    assert sum(not r.duplicate for r in results) == 40
    first = {f"k{i}": results[i].inbox_id for i in range(40)}
    for i in range(40, 60):
        assert results[i].duplicate
        assert results[i].inbox_id == first[f"k{i % 40}"]
    assert _counts(db) == (40, 40)


def test_duplicates_inside_one_batch(db: Database) -> None:
    with db.write_connection() as connection:
        answers = inbox.accept_many(connection, [event("a"), event("b"), event("a")])
    assert [a.duplicate for a in answers] == [False, False, True]
    assert answers[2].inbox_id == answers[0].inbox_id
    with db.write_connection() as connection:
        again = inbox.accept_many(connection, [event("b")])
    assert again == [Accepted(answers[1].inbox_id, duplicate=True)]
    assert _counts(db) == (2, 2)


def test_a_failing_item_fails_alone(db: Database) -> None:
    gate = threading.Event()

    def apply(connection: Connection, keys: Sequence[str]) -> list[str]:
        if "hold" in keys:
            gate.wait(5)  # hold the writer so the next items queue into one batch
        inbox.accept_many(connection, [event(k) for k in keys])  # rows that must vanish on error
        if "broken" in keys:
            raise ValueError("this item is broken")
        return [k.upper() for k in keys]

    group: GroupCommitWriter[str, str] = GroupCommitWriter(db, apply)
    held = group.submit("hold")
    futures = [group.submit(f"ok{i}") for i in range(3)]
    bad = group.submit("broken")
    futures += [group.submit(f"ok{i}") for i in range(3, 6)]
    gate.set()
    assert held.result(5) == "HOLD"
    with pytest.raises(ValueError, match="broken"):
        bad.result(5)
    assert [f.result(5) for f in futures] == [f"OK{i}" for i in range(6)]
    group.stop()
    assert _counts(db) == (7, 7)  # hold and the six ok items; nothing of the broken one


def test_stop_commits_what_is_queued_then_refuses(db: Database) -> None:
    group: Writer = GroupCommitWriter(db, inbox.accept_many)
    futures = [group.submit(event(f"s{i}")) for i in range(10)]
    group.stop()
    assert all(f.done() and not f.result().duplicate for f in futures)
    assert _counts(db) == (10, 10)
    with pytest.raises(RuntimeError, match="stopped"):
        group.submit(event("late"))
