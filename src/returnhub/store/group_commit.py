"""Group commit: many small write units from concurrent requests share one transaction.

A webhook's durable write is two inserts; alone, its BEGIN/COMMIT (a WAL append on SQLite, an
fsync on PostgreSQL) and the hop through a thread pool cost more than the inserts. One writer
thread takes every unit that is waiting, runs them all in one write transaction and commits once;
each caller's future resolves only after that commit, so "answer after commit" still holds.

A unit that raises must not take its neighbours down with it: the batch rolls back and each unit
of it runs again in a transaction of its own, so each caller gets its own result or exception.
Units must therefore be safe to run twice from scratch (they only see their own rolled-back
work, which is gone).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection

from returnhub.store.db import Database

T = TypeVar("T")
Unit = Callable[[Connection], Any]

_STOP = object()


class GroupCommitWriter:
    """One writer thread that commits waiting units together, up to ``max_batch`` at a time."""

    def __init__(self, db: Database, *, max_batch: int = 128) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False

    def submit(self, unit: Callable[[Connection], T]) -> Future[T]:
        """Queue ``unit``; the future holds its result once its transaction has committed."""
        if self._stopped:
            raise RuntimeError("the group-commit writer has been stopped")
        future: Future[T] = Future()
        self._ensure_started()
        self._queue.put((unit, future))
        return future

    async def run(self, unit: Callable[[Connection], T]) -> T:
        """``submit`` from the event loop: awaits the commit without blocking the loop."""
        return await asyncio.wrap_future(self.submit(unit))

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then end the thread."""
        self._stopped = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
                thread.start()
                self._thread = thread

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[tuple[Unit, Future[Any]]]) -> None:
        live = [(unit, future) for unit, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self.db.write_connection() as connection:
                results = [unit(connection) for unit, _ in live]
        except BaseException as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            # Someone's unit (or the commit) failed: give each unit its own transaction so the
            # failure reaches only its own caller.
            for unit, future in live:
                self._run_alone(unit, future)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_alone(self, unit: Unit, future: Future[Any]) -> None:
        try:
            with self.db.write_connection() as connection:
                result = unit(connection)
        except BaseException as exc:  # handed to the caller, who decides what it means
            future.set_exception(exc)
        else:
            future.set_result(result)
