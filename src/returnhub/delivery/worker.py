"""The worker: claims due outbox jobs, runs their handlers, records the outcome.

Runs as a thread inside ``returnhub serve`` (embedded default) or as ``returnhub worker``
processes; on PostgreSQL any number of them share the table safely (see outbox.claim).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from returnhub.delivery import health, outbox
from returnhub.delivery.errors import DeliveryError, MappingError
from returnhub.delivery.handlers import Handler, HandlerContext, default_handlers
from returnhub.delivery.outbox import ClaimedJob, JobStatus
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.types import utcnow

log = structlog.get_logger(__name__)


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
        concurrency: int | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        metrics: WorkerMetrics | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.handlers = dict(handlers or default_handlers())
        self.concurrency = concurrency or settings.worker_concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.clock = clock
        self.policy = settings.retry_policy()
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        self.metrics = metrics or WorkerMetrics(CollectorRegistry())
        self.http = http or httpx.Client(timeout=settings.outbound_timeout_seconds)
        self.context = HandlerContext(db=db, settings=settings, http=self.http, clock=clock)
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="returnhub-job")

    def run_once(self) -> int:
        """Claim one batch and run it to the end; the number of jobs run."""
        with self.db.write() as session:
            jobs = outbox.claim(
                session, self.worker_id, self.clock(), limit=self.concurrency, lease=self.lease
            )
        if not jobs:
            return 0
        futures: list[tuple[ClaimedJob, Future[None]]] = [
            (job, self._pool.submit(self._run, job)) for job in jobs
        ]
        for job, future in futures:
            if self.stopping.is_set() and future.cancel():
                with self.db.write() as session:
                    outbox.release(session, job, self.worker_id, self.clock())
                continue
            future.result()
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
        """Loop until ``stop()``: jobs in flight finish, claimed-but-unstarted ones are released."""
        log.info("worker_started", worker=self.worker_id, concurrency=self.concurrency)
        while not self.stopping.is_set():
            try:
                ran = self.run_once()
            except Exception:
                # The database may be restarting: keep the worker alive and try again shortly.
                log.exception("worker_round_failed", worker=self.worker_id)
                ran = 0
            if ran == 0:
                self.stopping.wait(self.settings.worker_poll_seconds)
        log.info("worker_stopped", worker=self.worker_id)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)
        self.http.close()

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
        with self.db.write() as session:
            if error is None:
                kept = outbox.succeed(session, job, self.worker_id, now)
                outcome = "succeeded" if kept else "lease_lost"
                if job.connector and kept:
                    health.record_success(session, job.connector, now)
            else:
                status = outbox.fail(session, job, self.worker_id, error, self.policy, now)
                outcome = (
                    "lease_lost"
                    if status is None
                    else ("retry" if status is JobStatus.PENDING else "dead")
                )
                if job.connector and status is not None:
                    health.record_failure(session, job.connector, error, now)
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
