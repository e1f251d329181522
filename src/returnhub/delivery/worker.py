"""The worker: claims due outbox jobs, runs their handlers, records the outcome.

Runs as a thread inside ``returnhub serve`` (embedded default) or as ``returnhub worker``
processes; on PostgreSQL any number of them share the table safely (see outbox.claim).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from returnhub.connectors.errors import DeliveryError, MappingError
from returnhub.delivery import health, outbox
from returnhub.delivery.context import BatchHandler, Handler, HandlerContext
from returnhub.delivery.outage import Outage
from returnhub.delivery.outbox import ClaimedJob, JobStatus
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.group_commit import GroupCommitWriter
from returnhub.store.types import utcnow

log = structlog.get_logger(__name__)
# The longest a worker waits between claims while the database is down.
MAX_BACKOFF_SECONDS = 30.0
HEALTH_FLUSH_SECONDS = 1.0


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "returnhub_outbox_attempts_total",
            "Job attempts by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "returnhub_outbox_delivery_seconds",
            "Time from a job's claim to its outcome, by kind",
            ["kind"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        handlers: Mapping[str, Handler] | None = None,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        concurrency: int | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        metrics: WorkerMetrics | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        if not handlers:
            registered, registered_batch = registered_jobs(db, settings)
            # Batching belongs to the registered handlers: a caller's own handler for a kind
            # is run as given, one job at a time.
            if batch_handlers is None and handlers is None:
                batch_handlers = registered_batch
            handlers = registered
        self.handlers = dict(handlers)
        if batch_handlers is None:
            batch_handlers = {}
        # The most jobs of one kind run together, in one transaction.
        self.batch_size = settings.worker_batch_size
        self.batch_handlers = dict(batch_handlers) if self.batch_size > 1 else {}
        self.concurrency = concurrency or settings.worker_concurrency
        # Jobs claimed at a time: every slot busy and as many queued, and room for a batch.
        self.capacity = 2 * self.concurrency + (self.batch_size if self.batch_handlers else 0)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.clock = clock
        self.policy = settings.retry_policy()
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        # A job must start with at least this much of its lease left (see _still_held).
        self.start_margin = min(
            timedelta(seconds=settings.outbound_timeout_seconds), self.lease / 2
        )
        self.metrics = metrics or WorkerMetrics(CollectorRegistry())
        self.http = http or httpx.Client(timeout=settings.outbound_timeout_seconds)
        self.context = HandlerContext(db=db, settings=settings, http=self.http, clock=clock)
        self.stopping = threading.Event()
        self.outage = Outage(
            "database",
            base=settings.worker_poll_seconds,
            cap=MAX_BACKOFF_SECONDS,
            worker=self.worker_id,
        )
        self._health_lock = threading.Lock()
        self._successes: dict[str, tuple[int, datetime]] = {}
        self._flushed_at = time.monotonic()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="returnhub-job")
        # Successes of concurrent jobs are committed together: one transaction, not one each.
        self._outcomes: GroupCommitWriter[ClaimedJob, bool] = GroupCommitWriter(
            db, self._succeed_many, max_batch=2 * self.concurrency, name="outbox-outcomes"
        )

    def run_once(self, limit: int | None = None) -> int:
        """Claim up to ``limit`` jobs (a full load by default) and run them to the end; the
        number of jobs run."""
        with self.db.write() as session:
            jobs = outbox.claim(
                session,
                self.worker_id,
                self.clock(),
                limit=limit or self.capacity,
                lease=self.lease,
            )
        if not jobs:
            return 0
        self._settle_all(
            [(self._pool.submit(self._run_batch, batch), batch) for batch in self._batches(jobs)]
        )
        self._flush_successes(force=True)
        return len(jobs)

    def drain(self, max_rounds: int = 10_000) -> int:
        """Run until nothing is due (tests, CLI `outbox drain`); the number of jobs run."""
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            if ran == 0:
                break
            total += ran
        return total

    def run(self) -> None:
        """Loop until ``stop()``, keeping up to ``concurrency`` jobs running and as many more
        claimed and queued behind them: a slot that frees up is refilled at once, and claims
        come in batches of at least ``concurrency`` (one claim transaction per job would
        compete with the jobs' own writes), with room for a batch of the kinds that run
        together. On stop, running jobs finish and queued ones are released untouched."""
        log.info("worker_started", worker=self.worker_id, concurrency=self.concurrency)
        running: dict[Future[None], list[ClaimedJob]] = {}
        poll = self.settings.worker_poll_seconds
        while not self.stopping.is_set():
            free = self.capacity - sum(len(batch) for batch in running.values())
            claimed: list[ClaimedJob] = []
            wait_for = poll
            if free >= self.concurrency or not running:
                try:
                    with self.db.write_connection() as connection:
                        claimed = outbox.claim(
                            connection, self.worker_id, self.clock(), limit=free, lease=self.lease
                        )
                    self.outage.succeeded()
                except Exception as exc:
                    # The database may be restarting: keep the worker alive, back off.
                    wait_for = self.outage.failed(exc)
            for batch in self._batches(claimed):
                running[self._pool.submit(self._run_batch, batch)] = batch
            if not running:
                self.stopping.wait(wait_for)
                continue
            # Wake when a job ends, or after a poll interval to look for newly due work.
            done, _ = wait(
                running, timeout=poll if free > len(claimed) else None, return_when=FIRST_COMPLETED
            )
            for future in done:
                self._settle(running.pop(future), future)
            self._flush_successes()
        self._settle_all(running.items())
        self._flush_successes(force=True)
        log.info("worker_stopped", worker=self.worker_id)

    def _batches(self, jobs: Sequence[ClaimedJob]) -> list[list[ClaimedJob]]:
        """The claimed jobs as units of work: those of a kind with a batch handler together
        (at most ``batch_size``), every other job alone."""
        together: dict[str, list[ClaimedJob]] = {}
        alone: list[list[ClaimedJob]] = []
        for job in jobs:
            if job.kind in self.batch_handlers:
                together.setdefault(job.kind, []).append(job)
            else:
                alone.append([job])
        batches = [
            same[start : start + self.batch_size]
            for same in together.values()
            for start in range(0, len(same), self.batch_size)
        ]
        return batches + alone

    def _settle_all(self, batches: Iterable[tuple[Future[None], list[ClaimedJob]]]) -> None:
        """Wait for each batch; once stopping, give back those that have not started."""
        for future, batch in batches:
            if self.stopping.is_set() and future.cancel():
                with self.db.write_connection() as connection:
                    for job in batch:
                        outbox.release(connection, job, self.worker_id, self.clock())
            else:
                self._settle(batch, future)

    def _settle(self, batch: list[ClaimedJob], future: Future[None]) -> None:
        try:
            future.result()
        except Exception:
            # Recording the outcome failed (e.g. the database went away): the lease runs out
            # and the jobs are claimed again. Log each batch; never let one hide the others.
            log.exception(
                "job_outcome_not_recorded",
                jobs=[job.public_id for job in batch],
                kind=batch[0].kind,
            )

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)
        self._outcomes.stop()
        self.context.posts.close()
        self.http.close()

    def _succeed_many(self, connection: Connection, jobs: Sequence[ClaimedJob]) -> list[bool]:
        return outbox.succeed_many(connection, jobs, self.worker_id, self.clock())

    def _record_health(
        self, session: Session, job: ClaimedJob, error: DeliveryError | None, now: datetime
    ) -> None:
        """Failures are recorded at once (a refused credential must show now); successes are
        counted in memory and written about once a second, saving two statements per job.
        Either way in a savepoint: bookkeeping must never roll back the job's own outcome."""
        if error is None:
            self._count_success(job.connector, now)
            return
        try:
            with session.begin_nested():
                health.record_failure(session, job.connector, error, now)
        except SQLAlchemyError:
            log.warning("health_not_recorded", connector=job.connector, job=job.public_id)

    def _count_success(self, connector: str, now: datetime) -> None:
        with self._health_lock:
            count, _ = self._successes.get(connector, (0, now))
            self._successes[connector] = (count + 1, now)

    def _flush_successes(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._flushed_at < HEALTH_FLUSH_SECONDS:
            return
        with self._health_lock:
            pending, self._successes = self._successes, {}
        self._flushed_at = time.monotonic()
        if not pending:
            return
        try:
            with self.db.write() as session:
                for connector, (count, at) in sorted(pending.items()):
                    health.record_success(session, connector, at, count=count)
        except SQLAlchemyError:
            log.warning("health_not_recorded", connectors=sorted(pending))

    def _run_batch(self, batch: list[ClaimedJob]) -> None:
        """Run a unit of work: a batch through its kind's batch handler, whose jobs it leaves
        (and any job alone) through the one-by-one path."""
        batch = self._still_held(batch)
        if not batch:
            return
        handler = self.batch_handlers.get(batch[0].kind)
        left = batch
        if handler is not None:
            started = time.perf_counter()
            kept: dict[int, bool] = {}

            def settle(session: Session, done: Sequence[ClaimedJob]) -> None:
                flags = outbox.succeed_many(
                    session.connection(), done, self.worker_id, self.clock()
                )
                kept.update((job.id, flag) for job, flag in zip(done, flags, strict=True))

            left = handler(self.context, batch, settle)
            # Only jobs the handler did not hand back are done: a batch whose commit failed
            # after its settle hands every job back, and those outcomes never happened.
            handed_back = {job.id for job in left}
            now = self.clock()
            for job in batch:
                if job.id in handed_back:
                    continue
                outcome = "succeeded" if kept.get(job.id) else "lease_lost"
                if job.connector and kept.get(job.id):
                    self._count_success(job.connector, now)
                self.metrics.attempts.labels(job.kind, outcome).inc()
                self.metrics.latency.labels(job.kind).observe(time.perf_counter() - started)
        for job in left:
            self._run(job)

    def _still_held(self, batch: list[ClaimedJob]) -> list[ClaimedJob]:
        """The jobs whose claim leaves time to run them. One that waited behind slow jobs
        until its lease (nearly) ran out may be claimed again, by this worker or another, and
        must not also run here: it is left to that claim."""
        deadline = self.clock() + self.start_margin
        held = []
        for job in batch:
            if job.leased_until is None or job.leased_until > deadline:
                held.append(job)
                continue
            self.metrics.attempts.labels(job.kind, "lease_lost").inc()
            log.warning("job_lease_ran_out_before_it_started", job=job.public_id, kind=job.kind)
        return held

    def _run(self, job: ClaimedJob) -> None:
        started = time.perf_counter()
        handler = self.handlers.get(job.kind)
        error: DeliveryError | None = None
        try:
            if handler is None:
                raise MappingError(f"no handler for job kind {job.kind!r}")
            handler(self.context, job)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:
            log.exception("job_crashed", job=job.public_id, kind=job.kind)
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
        now = self.clock()
        if error is None:
            # The common case is one prepared UPDATE, committed with its neighbours' and
            # awaited, so the job is recorded done before its slot is refilled.
            kept = self._outcomes.submit(job).result()
            outcome = "succeeded" if kept else "lease_lost"
            if job.connector and kept:
                self._count_success(job.connector, now)
        else:
            with self.db.write() as session:
                status = outbox.fail(session, job, self.worker_id, error, self.policy, now)
                outcome = (
                    "lease_lost"
                    if status is None
                    else ("retry" if status is JobStatus.PENDING else "dead")
                )
                if job.connector and status is not None:
                    self._record_health(session, job, error, now)
        self.metrics.attempts.labels(job.kind, outcome).inc()
        self.metrics.latency.labels(job.kind).observe(time.perf_counter() - started)
        if error is not None:
            log.warning(
                "job_failed",
                job=job.public_id,
                kind=job.kind,
                attempt=job.attempts,
                error_class=error.error_class.value,
                outcome=outcome,
            )


def registered_jobs(
    db: Database, settings: Settings
) -> tuple[dict[str, Handler], dict[str, BatchHandler]]:
    """The handlers of every registered job kind, for a worker whose caller gave none; the
    database is wired as the app wires it (``returnhub.jobs.wire``), so events recorded by
    those handlers enqueue what they would through the app."""
    # The one place delivery reaches the features (returnhub.jobs imports the services, which
    # import delivery.outbox): imported when a worker is built, so delivery stays below them.
    from returnhub import jobs  # the documented seam to the job registry: see above

    jobs.wire(db, settings)
    return jobs.default_handlers(), jobs.default_batch_handlers()


class BackgroundWorker:
    """The embedded worker: a daemon thread running ``Worker.run`` inside the API process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, name="returnhub-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.worker.stop()
        self.thread.join(timeout)
        self.worker.close()
