"""Group commit: units from many callers share transactions, each caller sees its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, func, select

from returnhub.delivery import inbox
from returnhub.store.db import Database
from returnhub.store.group_commit import GroupCommitWriter
from returnhub.store.tables import InboxEvent, OutboxJob


@pytest.fixture
def writer(db: Database) -> Iterator[GroupCommitWriter]:
    group = GroupCommitWriter(db, max_batch=8)
    yield group
    group.stop()


def _store(key: str) -> Callable[[Connection], inbox.Accepted]:
    def unit(connection: Connection) -> inbox.Accepted:
        return inbox.accept(
            connection,
            source="loop",
            dedupe_key=key,
            event_type="return.created",
            body=b"{}",
            headers={},
            lock_key=None,
        )

    return unit


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        events = session.scalar(select(func.count()).select_from(InboxEvent)) or 0
        jobs = session.scalar(select(func.count()).select_from(OutboxJob)) or 0
    return events, jobs


def test_concurrent_units_commit_and_each_gets_its_result(
    db: Database, writer: GroupCommitWriter
) -> None:
    async def many() -> list[inbox.Accepted]:
        return await asyncio.gather(*(writer.run(_store(f"k{i % 40}")) for i in range(60)))

    results = asyncio.run(many())
    # 40 distinct events; the 20 repeats are duplicates of rows committed in the same or an
    # earlier batch, and name the stored row.
    assert sum(not r.duplicate for r in results) == 40
    assert sum(r.duplicate for r in results) == 20
    first = {f"k{i}": results[i].inbox_id for i in range(40)}
    for i in range(40, 60):
        assert results[i].inbox_id == first[f"k{i % 40}"]
    assert _counts(db) == (40, 40)


def test_a_failing_unit_fails_alone(db: Database, writer: GroupCommitWriter) -> None:
    gate = threading.Event()

    def blocker(connection: Connection) -> str:
        gate.wait(5)  # hold the writer so the next units queue into one batch
        return "first"

    def broken(connection: Connection) -> None:
        _store("broken")(connection)  # its rows must vanish with it
        raise ValueError("this unit is broken")

    held = writer.submit(blocker)
    futures = [writer.submit(_store(f"ok{i}")) for i in range(3)]
    bad = writer.submit(broken)
    futures += [writer.submit(_store(f"ok{i}")) for i in range(3, 6)]
    gate.set()
    assert held.result(5) == "first"
    with pytest.raises(ValueError, match="broken"):
        bad.result(5)
    assert all(not f.result(5).duplicate for f in futures)
    assert _counts(db) == (6, 6)


def test_stop_commits_what_is_queued_then_refuses(db: Database) -> None:
    group = GroupCommitWriter(db)
    futures = [group.submit(_store(f"s{i}")) for i in range(10)]
    group.stop()
    assert all(f.done() and not f.result().duplicate for f in futures)
    assert _counts(db) == (10, 10)
    with pytest.raises(RuntimeError, match="stopped"):
        group.submit(_store("late"))
