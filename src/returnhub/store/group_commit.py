"""Group commit: many small writes from concurrent callers share one transaction.

A webhook's durable write is two inserts; alone, its BEGIN/COMMIT (a WAL append on SQLite, an
fsync on PostgreSQL) and the hop through a thread pool cost more than the inserts. One writer
thread takes every item that is waiting, applies them together with a batch function (which can
then use one multi-row statement instead of one per item), commits once, and only then resolves
each caller's future: "answer after commit" still holds.

An item that makes the batch fail must not take its neighbours down with it: the batch rolls
back and each item of it is applied again in a transaction of its own, so each caller gets its
own result or exception. Batch functions must therefore be safe to rerun from scratch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from returnhub.store.db import Database

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = object()


class GroupCommitWriter(Generic[Item, Result]):
    """One writer thread that applies waiting items together, up to ``max_batch`` at a time.

    ``apply(connection, items)`` returns one result per item, in order.
    """

    def __init__(
        self,
        db: Database,
        apply: Callable[[Connection, Sequence[Item]], Sequence[Result]],
        *,
        max_batch: int = 128,
        name: str = "group-commit",
    ) -> None:
        self.db = db
        self.apply = apply
        self.max_batch = max_batch
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False

    def submit(self, item: Item) -> Future[Result]:
        """Queue ``item``; the future holds its result once its transaction has committed."""
        if self._stopped:
            raise RuntimeError(f"the {self.name} writer has been stopped")
        future: Future[Result] = Future()
        self._ensure_started()
        self._queue.put((item, future))
        return future

    async def run(self, item: Item) -> Result:
        """``submit`` from the event loop: awaits the commit without blocking the loop."""
        return await asyncio.wrap_future(self.submit(item))

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
                thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
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
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP:
                    stopping = True
                    break
                batch.append(waiting)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[tuple[Item, Future[Result]]]) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self.db.write_connection() as connection:
                results = self.apply(connection, [item for item, _ in live])
        except BaseException as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
                return
            # Some item (or the commit) failed: give each item its own transaction so the
            # failure reaches only its own caller.
            for item, future in live:
                self._apply_alone(item, future)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _apply_alone(self, item: Item, future: Future[Result]) -> None:
        try:
            with self.db.write_connection() as connection:
                [result] = self.apply(connection, [item])
        except BaseException as exc:  # handed to the caller, who decides what it means
            future.set_exception(exc)
        else:
            future.set_result(result)
