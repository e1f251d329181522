"""The transactional outbox: enqueue inside the caller's transaction, claim with a lease,
finish, retry, dead letters and replay.

Claim protocol: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``.
On PostgreSQL, concurrent workers skip each other's rows; on SQLite the write transaction is
``BEGIN IMMEDIATE`` so claims are serialised anyway (SQLAlchemy omits FOR UPDATE there). A job
is claimable when it is pending and due, or in flight with an expired lease (its worker died),
and no earlier job with the same lock key is still pending or in flight, so work on one return
happens in order. A job that completes after losing its lease is ignored: the new holder wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from returnhub.connectors.errors import DeliveryError
from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.retry import RetryPolicy
from returnhub.store.dialects import dialect_of, upsert
from returnhub.store.tables import OPEN_JOBS, OutboxJob


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to run a job; detached from any session."""

    id: int
    public_id: str
    kind: str
    connector: str
    payload: dict[str, Any]
    attempts: int
    lock_key: str | None
    dedupe_key: str | None
    # Until when this claim holds the job; after that another claim may take it.
    leased_until: datetime | None = field(default=None, compare=False)

    @property
    def idempotency_key(self) -> str:
        """Sent with every outbound request of this job: the same on every retry."""
        return self.dedupe_key or self.public_id


@dataclass(frozen=True)
class NewJob:
    """A job to run as soon as a worker is free (``enqueue_many``)."""

    kind: str
    payload: dict[str, Any]
    connector: str = ""
    lock_key: str | None = None
    dedupe_key: str | None = None


def _row(job: NewJob) -> dict[str, Any]:
    return {
        "public_id": new_id(Prefix.JOB),
        "kind": job.kind,
        "connector": job.connector,
        "payload": job.payload,
        "status": JobStatus.PENDING.value,
        "lock_key": job.lock_key,
        "dedupe_key": job.dedupe_key,
    }


def enqueue(
    session: Session | Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    connector: str = "",
    lock_key: str | None = None,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
) -> bool:
    """Add a job in the caller's transaction. False when ``dedupe_key`` was enqueued before."""
    values = _row(NewJob(kind, payload, connector, lock_key, dedupe_key))
    if run_at is not None:
        values["next_attempt_at"] = run_at
    statement = _insert_statement(dialect_of(session), returning=True)
    return session.execute(statement, values).scalar() is not None


def enqueue_many(session: Session | Connection, jobs: Sequence[NewJob]) -> None:
    """Add several jobs in one statement (SQLAlchemy sends the rows as one multi-row INSERT);
    a job whose dedupe key was enqueued before is skipped."""
    if jobs:
        statement = _insert_statement(dialect_of(session), returning=False)
        session.execute(statement, [_row(job) for job in jobs])


@cache
def _insert_statement(dialect: str, *, returning: bool) -> Any:
    """Built once per dialect and executed with parameters, so the hot path (every webhook,
    every domain event) skips statement construction and cache-key generation."""
    table = cast(Table, OutboxJob.__table__)
    # A NULL dedupe key never conflicts, so one statement serves jobs with and without one.
    statement = upsert(dialect, table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return statement.returning(table.c.id) if returning else statement


def claim(
    session: Session | Connection, worker_id: str, now: datetime, *, limit: int, lease: timedelta
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs for ``worker_id`` until ``now + lease``.

    Jobs whose lease ran out come first (their worker died; they are the oldest work), then
    pending jobs, earliest due first. Two statements, each walking an index until its limit,
    where one with ``OR`` would collect and sort every pending row: the claim must stay cheap
    with a backlog of a million jobs.
    """
    dialect = dialect_of(session)
    if dialect == "postgresql":
        session.execute(_STEADY_PLAN)
    params: dict[str, Any] = {
        "claim_now": now,
        "claim_limit": limit,
        "claim_until": now + lease,
        "claim_worker": worker_id,
    }
    rows = list(session.execute(_claim_statement(dialect, JobStatus.IN_FLIGHT), params))
    if len(rows) < limit:
        params["claim_limit"] = limit - len(rows)
        rows += session.execute(_claim_statement(dialect, JobStatus.PENDING), params).all()
    until = now + lease
    claimed = (ClaimedJob(**row._mapping, leased_until=until) for row in rows)
    return sorted(claimed, key=lambda j: j.id)


# PostgreSQL plans from statistics, and the outbox swings from a few rows to a backlog of
# hundreds of thousands faster than autovacuum re-analyzes it: with a tiny table's statistics
# the planner collects every due row, checks each one's lock key and sorts them, so a claim
# costs time in proportion to the backlog, and psycopg's server-side prepared statement can
# keep such a plan for good. For the claim's own transaction only: plan every execution
# afresh, and walk the indexes in order, stopping at the limit, whatever the statistics say.
# (JIT off: the disabled sort still has to run for the few in-flight rows, and its penalty
# cost would otherwise buy a JIT compile of ~200 ms per claim.)
_STEADY_PLAN = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('jit', 'off', true),"
    " set_config('enable_sort', 'off', true),"
    " set_config('enable_bitmapscan', 'off', true),"
    " set_config('enable_seqscan', 'off', true)"
)


def claim_plans(connection: Connection, now: datetime, *, limit: int) -> list[Any]:
    """PostgreSQL's EXPLAIN ANALYZE (JSON) of both claim statements, run as ``claim`` runs
    them and rolled back: for the test that the plan stays good on a big never-analyzed
    backlog, and for an operator looking into a slow claim (`returnhub outbox explain`)."""
    plans = []
    for status in (JobStatus.IN_FLIGHT, JobStatus.PENDING):
        compiled = _claim_statement("postgresql", status).compile(dialect=connection.dialect)
        params = compiled.construct_params(
            {
                "claim_now": now,
                "claim_limit": limit,
                "claim_until": now,
                "claim_worker": "explain",
            }
        )
        with connection.begin() as transaction:
            connection.execute(_STEADY_PLAN)
            plans.append(
                connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), params
                ).scalar()
            )
            transaction.rollback()
    return plans


@cache
def _claim_statement(dialect: str, status: JobStatus) -> Any:
    """A claim of jobs in ``status`` that are due (pending) or whose lease expired (in flight),
    built once per dialect (a worker runs it many times a second) and bound per call."""
    jobs = cast(Table, OutboxJob.__table__)
    earlier = jobs.alias("earlier")
    when = jobs.c.next_attempt_at.type
    now = bindparam("claim_now", type_=when)
    blocked = exists().where(
        earlier.c.lock_key == jobs.c.lock_key,
        earlier.c.id < jobs.c.id,
        # Literal, as in the partial index ix_outbox_jobs_open_lock_key, so plans can use it.
        text(f"earlier.{OPEN_JOBS}"),
    )
    due_at = jobs.c.next_attempt_at if status is JobStatus.PENDING else jobs.c.lease_expires_at
    due = (
        select(jobs.c.id)
        .where(
            jobs.c.status == status.value,
            due_at <= now if status is JobStatus.PENDING else due_at < now,
            or_(jobs.c.lock_key.is_(None), ~blocked),
        )
        .order_by(due_at, jobs.c.id)
        .limit(bindparam("claim_limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    return (
        update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(
            status=JobStatus.IN_FLIGHT.value,
            attempts=jobs.c.attempts + 1,
            lease_expires_at=bindparam("claim_until", type_=when),
            locked_by=bindparam("claim_worker", type_=String),
            updated_at=now,
        )
        .returning(
            jobs.c.id,
            jobs.c.public_id,
            jobs.c.kind,
            jobs.c.connector,
            jobs.c.payload,
            jobs.c.attempts,
            jobs.c.lock_key,
            jobs.c.dedupe_key,
        )
    )


def _held(job_id: int, worker_id: str) -> Any:
    return and_(
        OutboxJob.id == job_id,
        OutboxJob.status == JobStatus.IN_FLIGHT.value,
        OutboxJob.locked_by == worker_id,
    )


def succeed(session: Session | Connection, job: ClaimedJob, worker_id: str, now: datetime) -> bool:
    """Mark done; False when the lease was lost (another worker now owns the job)."""
    return succeed_many(session, [job], worker_id, now)[0]


def succeed_many(
    session: Session | Connection, jobs: Sequence[ClaimedJob], worker_id: str, now: datetime
) -> list[bool]:
    """Mark several jobs done in one statement; per job, False when its lease was lost."""
    done = {
        int(job_id)
        for job_id in session.execute(
            _succeed_statement(),
            {"done_ids": [job.id for job in jobs], "done_worker": worker_id, "done_at": now},
        ).scalars()
    }
    return [job.id in done for job in jobs]


@cache
def _succeed_statement() -> Any:
    jobs = cast(Table, OutboxJob.__table__)
    at = bindparam("done_at", type_=jobs.c.finished_at.type)
    return (
        update(jobs)
        .where(
            jobs.c.id.in_(bindparam("done_ids", expanding=True)),
            jobs.c.status == JobStatus.IN_FLIGHT.value,
            jobs.c.locked_by == bindparam("done_worker", type_=String),
        )
        .values(
            status=JobStatus.SUCCEEDED.value,
            lease_expires_at=None,
            locked_by=None,
            finished_at=at,
            updated_at=at,
            last_error="",
            error_class="",
        )
        .returning(jobs.c.id)
    )


def fail(
    session: Session,
    job: ClaimedJob,
    worker_id: str,
    error: DeliveryError,
    policy: RetryPolicy,
    now: datetime,
) -> JobStatus | None:
    """Schedule the next attempt or mark dead; returns the new status (None if lease lost)."""
    next_at = (
        policy.next_attempt_at(job.attempts, now, error.retry_after) if error.retryable else None
    )
    status = JobStatus.PENDING if next_at is not None else JobStatus.DEAD
    result = session.execute(
        update(OutboxJob)
        .where(_held(job.id, worker_id))
        .values(
            status=status.value,
            next_attempt_at=next_at or now,
            lease_expires_at=None,
            locked_by=None,
            last_error=error.message[:4000],
            error_class=error.error_class.value,
            finished_at=now if status is JobStatus.DEAD else None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return status if getattr(result, "rowcount", 0) else None


def release(session: Session | Connection, job: ClaimedJob, worker_id: str, now: datetime) -> None:
    """Give a claimed job back untouched (graceful shutdown): it does not count as an attempt."""
    session.execute(
        update(OutboxJob)
        .where(_held(job.id, worker_id))
        .values(
            status=JobStatus.PENDING.value,
            attempts=OutboxJob.attempts - 1,
            lease_expires_at=None,
            locked_by=None,
            next_attempt_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def replay(session: Session, public_ids: list[str] | None, now: datetime) -> list[str]:
    """Send dead jobs around again with a fresh attempt budget; ``None`` replays every dead job."""
    query = select(OutboxJob).where(OutboxJob.status == JobStatus.DEAD.value)
    if public_ids is not None:
        query = query.where(OutboxJob.public_id.in_(public_ids))
    jobs = list(session.scalars(query.with_for_update()))
    for job in jobs:
        job.status = JobStatus.PENDING.value
        job.attempts = 0
        job.next_attempt_at = now
        job.finished_at = None
        job.last_error = f"replayed at {now.isoformat()} after: {job.last_error}"[:4000]
    return [job.public_id for job in jobs]


def list_jobs(
    session: Session,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 50,
    after: int | None = None,
) -> list[OutboxJob]:
    query = select(OutboxJob).order_by(OutboxJob.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxJob.status == status.value)
    if kind is not None:
        query = query.where(OutboxJob.kind == kind)
    if after is not None:
        query = query.where(OutboxJob.id < after)
    return list(session.scalars(query))


def get_job(session: Session, public_id: str) -> OutboxJob | None:
    return session.scalar(select(OutboxJob).where(OutboxJob.public_id == public_id))


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxJob.status, func.count()).group_by(OutboxJob.status))
    counts = {status.value: 0 for status in JobStatus}
    counts.update({status: int(n) for status, n in rows})
    return counts


def oldest_pending_age(session: Session, now: datetime) -> float:
    # Ids grow with creation time, so the lowest pending id is the oldest pending job.
    oldest = session.scalar(
        select(OutboxJob.created_at)
        .where(OutboxJob.status == JobStatus.PENDING.value)
        .order_by(OutboxJob.id)
        .limit(1)
    )
    if oldest is None:
        return 0.0
    return max((now - oldest).total_seconds(), 0.0)
