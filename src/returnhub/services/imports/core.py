"""Running an import: any source, chunk by chunk, each chunk stored in one write transaction
together with the checkpoint that says where the source resumes after it.

So an interruption (Ctrl-C, a kill, a lost database) loses at most the chunk in flight, and a
resume starts exactly after the last chunk in the ledger. The ``imports`` row names the source's
parameters (for files: each one's size and sha256), so a resume refuses a different file, and
running the same command again finds an unfinished import of the same files and resumes it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select

from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.imported import Batch, Counts
from returnhub.services.imports.ledger_orders import store_customers, store_orders
from returnhub.services.imports.ledger_returns import store_returns
from returnhub.store.db import Database
from returnhub.store.tables import ImportRun
from returnhub.store.types import utcnow


class ImportStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class ImportRefused(Exception):
    """The import cannot start or resume as asked; the message says why and what to do."""


class Source(Protocol):
    """Where history comes from. ``parameters`` identify what it reads (a resume must read the
    same), ``total`` is the end of ``Batch.position`` for the progress bar (None: unknown), and
    ``batches`` yields chunks from a checkpoint ({} at the start)."""

    name: str

    def parameters(self) -> dict[str, Any]: ...

    def total(self) -> int | None: ...

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]: ...


@dataclass(frozen=True)
class Started:
    public_id: str
    checkpoint: dict[str, Any]
    counts: Counts
    resumed: bool


OnBatch = Callable[[Batch, Counts], None]
# Who runs an import: a resume of one whose process is still alive is refused.
RUNNER = "runner"
STALE_AFTER = timedelta(minutes=10)


def _runner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(run: ImportRun) -> bool:
    """Is the process that last ran ``run`` still at it? Another host's cannot be asked: it
    counts as alive until the import has not moved for STALE_AFTER."""
    runner = run.parameters.get(RUNNER, {})
    if runner.get("host") != socket.gethostname():
        return utcnow() - run.updated_at < STALE_AFTER
    pid = runner.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != RUNNER} == {
        k: v for k, v in b.items() if k != RUNNER
    }


def _counts(run: ImportRun) -> Counts:
    return Counts(run.read, run.created, run.updated, run.skipped, run.invalid)


def start(db: Database, source: Source, resume: str | None = None) -> Started:
    """Resume import ``resume``, or the unfinished import of the same parameters, or start one."""
    parameters = source.parameters()
    with db.write() as session:
        if resume is not None:
            run = session.scalar(select(ImportRun).where(ImportRun.public_id == resume))
            if run is None:
                raise ImportRefused(f"there is no import {resume}")
            if run.source != source.name or not _same(run.parameters, parameters):
                raise ImportRefused(
                    f"import {resume} read other input ({_describe(run.parameters)}), not "
                    f"{_describe(parameters)}; a resume must read the same files. Start a new "
                    "import without --resume (it duplicates nothing already imported)"
                )
        else:
            candidates = session.scalars(
                select(ImportRun)
                .where(ImportRun.source == source.name, ImportRun.status != ImportStatus.SUCCEEDED)
                .order_by(ImportRun.id.desc())
                .limit(20)
            )
            run = next((r for r in candidates if _same(r.parameters, parameters)), None)
        if run is not None:
            if run.status == ImportStatus.SUCCEEDED:
                raise ImportRefused(
                    f"import {run.public_id} has finished; run the command without --resume to "
                    "import again (it duplicates nothing)"
                )
            if run.status == ImportStatus.RUNNING and _alive(run):
                raise ImportRefused(
                    f"import {run.public_id} is running in process "
                    f"{run.parameters.get(RUNNER)}; wait for it, or stop it first"
                )
            run.status = ImportStatus.RUNNING
            run.parameters = {**parameters, RUNNER: _runner()}
            run.updated_at = utcnow()
            return Started(run.public_id, dict(run.checkpoint), _counts(run), True)
        now = utcnow()
        run = ImportRun(
            public_id=new_id(Prefix.IMPORT),
            source=source.name,
            status=ImportStatus.RUNNING,
            parameters={**parameters, RUNNER: _runner()},
            checkpoint={},
            read=0,
            created=0,
            updated=0,
            skipped=0,
            invalid=0,
            last_error="",
            started_at=now,
            updated_at=now,
        )
        session.add(run)
        return Started(run.public_id, {}, Counts(), False)


def _describe(parameters: dict[str, Any]) -> str:
    files = [
        f"{value.get('name')} ({value.get('size')} bytes, sha256 {str(value.get('sha256'))[:12]}…)"
        for value in parameters.values()
        if isinstance(value, dict) and "sha256" in value
    ]
    return ", ".join(files) or str({k: v for k, v in parameters.items() if k != RUNNER})


def run(db: Database, source: Source, started: Started, on_batch: OnBatch) -> Counts:
    """Store every remaining chunk of ``source``; the import's row ends succeeded, interrupted
    (KeyboardInterrupt, which the CLI also raises on SIGTERM) or failed."""
    totals = started.counts
    try:
        for batch in source.batches(started.checkpoint):
            counts = Counts(read=batch.read, invalid=batch.invalid)
            with db.write() as session:
                now = utcnow()
                connection = session.connection()
                counts.add(store_customers(connection, batch.customers, now))
                counts.add(store_orders(connection, batch.orders, now))
                stored, problems = store_returns(session, batch.returns, batch.synced_returns, now)
                counts.add(stored)
                batch.problems.extend(problems)
                run_row = session.scalar(
                    select(ImportRun).where(ImportRun.public_id == started.public_id)
                )
                assert run_row is not None
                totals.add(counts)
                run_row.checkpoint = batch.checkpoint
                run_row.read, run_row.created = totals.read, totals.created
                run_row.updated, run_row.skipped = totals.updated, totals.skipped
                run_row.invalid = totals.invalid
                run_row.updated_at = now
            on_batch(batch, totals)
    except KeyboardInterrupt:
        _finish(db, started.public_id, ImportStatus.INTERRUPTED, "interrupted")
        raise
    except Exception as exc:
        _finish(db, started.public_id, ImportStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    _finish(db, started.public_id, ImportStatus.SUCCEEDED, "")
    return totals


def validate(source: Source, on_batch: OnBatch) -> Counts:
    """A dry run: read the whole source and report, storing nothing."""
    totals = Counts()
    for batch in source.batches({}):
        totals.add(Counts(read=batch.read, invalid=batch.invalid))
        on_batch(batch, totals)
    return totals


def _finish(db: Database, public_id: str, status: ImportStatus, error: str) -> None:
    with db.write() as session:
        run_row = session.scalar(select(ImportRun).where(ImportRun.public_id == public_id))
        if run_row is None:
            return
        now = utcnow()
        run_row.status = status
        run_row.last_error = error[:2000]
        run_row.updated_at = now
        run_row.finished_at = now if status == ImportStatus.SUCCEEDED else None


def get(db: Database, public_id: str) -> ImportRun | None:
    with db.read() as session:
        return session.scalar(select(ImportRun).where(ImportRun.public_id == public_id))


def latest(db: Database, limit: int = 20) -> list[ImportRun]:
    with db.read() as session:
        return list(session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)))
