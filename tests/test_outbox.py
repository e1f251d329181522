"""Outbox contract: the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from returnhub.connectors.errors import (
    ClientError,
    ConfigurationError,
    RateLimited,
    ServerError,
)
from returnhub.delivery import outbox
from returnhub.delivery.context import HandlerContext
from returnhub.delivery.outbox import ClaimedJob, JobStatus
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import ConnectorHealth, OutboxJob
from tests.conftest import Clock

LEASE = timedelta(seconds=30)


def _enqueue(db: Database, n: int = 1, **kwargs: object) -> None:
    with db.write() as session:
        for i in range(n):
            outbox.enqueue(session, "test.job", {"n": i}, **kwargs)  # type: ignore[arg-type]


def _status(db: Database) -> list[tuple[str, int]]:
    with db.read() as session:
        rows = session.execute(select(OutboxJob.status, OutboxJob.attempts).order_by(OutboxJob.id))
        return [(s, a) for s, a in rows]


def test_rolled_back_change_leaves_no_job(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        outbox.enqueue(session, "test.job", {})
        raise RuntimeError("the domain change failed")
    assert _status(db) == []


def test_dedupe_key_enqueues_once(db: Database) -> None:
    with db.write() as session:
        assert outbox.enqueue(session, "test.job", {}, dedupe_key="once") is True
    with db.write() as session:
        assert outbox.enqueue(session, "test.job", {}, dedupe_key="once") is False
    assert len(_status(db)) == 1


def test_claim_takes_a_lease_and_expired_leases_are_claimed_again(
    db: Database, clock: Clock
) -> None:
    _enqueue(db)
    with db.write() as session:
        first = outbox.claim(session, "w1", clock.now, limit=10, lease=LEASE)
    with db.write() as session:
        assert outbox.claim(session, "w2", clock.now, limit=10, lease=LEASE) == []
    clock.advance(seconds=31)
    with db.write() as session:
        second = outbox.claim(session, "w2", clock.now, limit=10, lease=LEASE)
    assert [j.id for j in first] == [j.id for j in second]
    assert second[0].attempts == 2
    # The first worker finishing late changes nothing: the job now belongs to w2.
    with db.write() as session:
        assert outbox.succeed(session, first[0], "w1", clock.now) is False
    with db.write() as session:
        assert outbox.succeed(session, second[0], "w2", clock.now) is True
    assert _status(db) == [("succeeded", 2)]


def test_expired_leases_come_first_then_the_earliest_due(db: Database, clock: Clock) -> None:
    _enqueue(db)
    with db.write() as session:
        [abandoned] = outbox.claim(session, "dead-worker", clock.now, limit=1, lease=LEASE)
        due = clock.now - timedelta(hours=1)
        outbox.enqueue(session, "test.job", {"n": "late"}, run_at=due + timedelta(minutes=5))
        outbox.enqueue(session, "test.job", {"n": "early"}, run_at=due)
        outbox.enqueue(session, "test.job", {"n": "future"}, run_at=clock.now + timedelta(hours=1))
    clock.advance(seconds=31)  # the dead worker's lease runs out
    order = []
    for _ in range(4):
        with db.write() as session:
            order += [
                j.payload["n"] for j in outbox.claim(session, "w", clock.now, limit=1, lease=LEASE)
            ]
    assert order == [abandoned.payload["n"], "early", "late"]


def test_succeed_many_marks_only_jobs_still_held(db: Database, clock: Clock) -> None:
    _enqueue(db, 3)
    with db.write() as session:
        batch = outbox.claim(session, "w", clock.now, limit=3, lease=LEASE)
    clock.advance(seconds=31)
    with db.write() as session:
        [taken] = outbox.claim(session, "w2", clock.now, limit=1, lease=LEASE)
    with db.write() as session:
        done = outbox.succeed_many(session, batch, "w", clock.now)
    assert done == [job.id != taken.id for job in batch]
    assert sorted(_status(db)) == [("in_flight", 2), ("succeeded", 1), ("succeeded", 1)]


def test_jobs_with_one_lock_key_run_in_order(db: Database, clock: Clock) -> None:
    _enqueue(db, 3, lock_key="ret_a")
    _enqueue(db, 1, lock_key="ret_b")
    with db.write() as session:
        batch = outbox.claim(session, "w", clock.now, limit=10, lease=LEASE)
    assert [j.payload["n"] for j in batch] == [0, 0]
    assert sorted(j.lock_key or "" for j in batch) == ["ret_a", "ret_b"]
    with db.write() as session:
        for job in batch:
            outbox.succeed(session, job, "w", clock.now)
        nxt = outbox.claim(session, "w", clock.now, limit=10, lease=LEASE)
    assert [(j.lock_key, j.payload["n"]) for j in nxt] == [("ret_a", 1)]


def test_a_retrying_job_holds_back_later_jobs_of_its_lock(db: Database, clock: Clock) -> None:
    _enqueue(db, 2, lock_key="ret_a")
    policy = Settings().retry_policy()
    with db.write() as session:
        [job] = outbox.claim(session, "w", clock.now, limit=10, lease=LEASE)
        outbox.fail(session, job, "w", ServerError("503"), policy, clock.now)
    with db.write() as session:
        assert outbox.claim(session, "w", clock.now, limit=10, lease=LEASE) == []


class Scripted:
    """A handler that fails with the given errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[str] = []

    def __call__(self, ctx: HandlerContext, job: ClaimedJob) -> None:
        self.calls.append(job.idempotency_key)
        if self.errors:
            raise self.errors.pop(0)


def _worker(db: Database, settings: Settings, clock: Clock, handler: Scripted) -> Worker:
    return Worker(db, settings, handlers={"test.job": handler}, clock=clock, concurrency=2)


def test_retry_schedule_under_a_frozen_clock(
    db: Database, settings: Settings, clock: Clock
) -> None:
    settings = settings.model_copy(update={"outbox_retry_delays": "60,600"})
    handler = Scripted(ServerError("503"), ServerError("503"), ServerError("503"))
    _enqueue(db, connector="shop", dedupe_key="k1")
    worker = _worker(db, settings, clock, handler)
    worker.policy = worker.policy.__class__(delays=(60, 600), jitter=0.0)
    assert worker.drain() == 1
    assert _status(db) == [("pending", 1)]
    assert worker.drain() == 0  # not due yet
    clock.advance(seconds=60)
    assert worker.drain() == 1
    clock.advance(seconds=599)
    assert worker.drain() == 0
    clock.advance(seconds=1)
    assert worker.drain() == 1
    assert _status(db) == [("dead", 3)]
    assert handler.calls == ["k1", "k1", "k1"]
    with db.read() as session:
        job = session.scalars(select(OutboxJob)).one()
        assert job.error_class == "server_error"
        assert job.last_error == "503"
    worker.close()


def test_permanent_errors_die_at_once_and_replay_revives(
    db: Database, settings: Settings, clock: Clock
) -> None:
    handler = Scripted(ClientError("422: bad payload"))
    _enqueue(db)
    worker = _worker(db, settings, clock, handler)
    worker.drain()
    assert _status(db) == [("dead", 1)]
    with db.write() as session:
        [job_id] = outbox.replay(session, None, clock.now)
    worker.drain()
    assert _status(db) == [("succeeded", 1)]
    with db.read() as session:
        assert outbox.get_job(session, job_id) is not None
    worker.close()


def test_rate_limit_honours_retry_after(db: Database, settings: Settings, clock: Clock) -> None:
    _enqueue(db)
    worker = _worker(db, settings, clock, Scripted(RateLimited("429", retry_after=900)))
    worker.drain()
    with db.read() as session:
        job = session.scalars(select(OutboxJob)).one()
    assert job.status == "pending"
    assert job.next_attempt_at >= clock.now + timedelta(seconds=900)
    worker.close()


def test_configuration_error_parks_and_marks_connector_unhealthy(
    db: Database, settings: Settings, clock: Clock
) -> None:
    _enqueue(db, connector="loop")
    worker = _worker(db, settings, clock, Scripted(ConfigurationError("401: bad key")))
    worker.drain()
    assert _status(db) == [("dead", 1)]
    with db.read() as session:
        health = session.scalars(select(ConnectorHealth)).one()
        assert (health.connector, health.healthy, health.failures) == ("loop", False, 1)
        assert health.last_error == "configuration: 401: bad key"
    worker.close()


def test_unknown_kind_is_dead_not_lost(db: Database, settings: Settings, clock: Clock) -> None:
    with db.write() as session:
        outbox.enqueue(session, "no.such.kind", {})
    worker = _worker(db, settings, clock, Scripted())
    worker.drain()
    with db.read() as session:
        job = session.scalars(select(OutboxJob)).one()
        assert (job.status, job.error_class) == ("dead", "mapping")
        assert "no handler" in job.last_error
    worker.close()


def test_release_returns_the_job_without_spending_an_attempt(db: Database, clock: Clock) -> None:
    _enqueue(db)
    with db.write() as session:
        [job] = outbox.claim(session, "w", clock.now, limit=1, lease=LEASE)
        outbox.release(session, job, "w", clock.now)
    assert _status(db) == [("pending", 0)]


def test_counts_and_oldest_pending(db: Database, clock: Clock) -> None:
    _enqueue(db, 3)
    with db.read() as session:
        counts = outbox.counts_by_status(session)
        assert counts == {"pending": 3, "in_flight": 0, "succeeded": 0, "dead": 0}
        assert outbox.oldest_pending_age(session, clock.now + timedelta(days=3650)) > 0
        assert session.scalar(select(func.count()).select_from(OutboxJob)) == 3


def test_many_claimers_take_disjoint_jobs(db: Database, clock: Clock) -> None:
    import threading

    _enqueue(db, 60)
    seen: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while True:
            with db.write() as session:
                jobs = outbox.claim(session, name, clock.now, limit=5, lease=LEASE)
                for job in jobs:
                    outbox.succeed(session, job, name, clock.now)
            if not jobs:
                return
            with lock:
                seen.extend(j.id for j in jobs)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 60
    assert {s for s, _ in _status(db)} == {JobStatus.SUCCEEDED.value}


def test_a_job_whose_lease_ran_out_in_the_queue_runs_once_not_twice(
    db: Database, settings: Settings, clock: Clock
) -> None:
    """The first job is slow: by the time the second starts, its lease is over and the next
    claim takes it again. It runs under that claim only."""
    _enqueue(db, 2)
    runs: list[int] = []

    def slow(ctx: HandlerContext, job: ClaimedJob) -> None:
        runs.append(int(job.payload["n"]))
        clock.advance(seconds=settings.outbox_lease_seconds + 1)

    worker = Worker(db, settings, handlers={"test.job": slow}, concurrency=1, clock=clock)
    try:
        assert worker.run_once() == 2  # both claimed, only the first run
        assert runs == [0]
        assert _status(db) == [("succeeded", 1), ("in_flight", 1)]
        worker.drain()
    finally:
        worker.close()
    assert runs == [0, 1]
    assert _status(db) == [("succeeded", 1), ("succeeded", 2)]
