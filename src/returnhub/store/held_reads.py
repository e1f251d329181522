"""Read connections held per thread, for prepared reads (``store/prepared.py``)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, StatementError

from returnhub.store.prepared import ReadCursor

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass(eq=False)
class _Held:
    raw: Any  # the pool's proxy for the connection, kept checked out
    driver: Any
    reader: ReadCursor
    release: weakref.finalize[Any, Any] | None = None  # closes it; runs at most once


class HeldReads:
    """Read cursors on one connection held per thread, not checked out of the pool per read.

    A checkout and its reset cost more than a DETAILED lookup's three statements: on SQLite in
    CPU, on PostgreSQL also in round trips (the pre-ping and the reset's ROLLBACK). The few
    threads that read (the event loop's on SQLite, the reader threads on PostgreSQL; see
    runtime.py) each keep one connection, opened by the engine (with its PRAGMAs) and closed
    with the Database.

    - SQLite: BEGIN … ROLLBACK around each read, so all its statements see one snapshot.
    - PostgreSQL: the connection runs in autocommit, so each statement is its own READ
      COMMITTED read. Inside a transaction at that (our default) isolation each statement also
      takes a new snapshot, so nothing is lost; the BEGIN and ROLLBACK round trips are saved.
      psycopg prepares a statement on the server after its fifth use on a connection, which a
      held connection reaches at once.

    ``run`` survives a server restart or a dropped connection: when a read fails because its
    connection died, the connection is dropped and the read runs once more on a new one.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._sqlite = engine.dialect.name == "sqlite"
        self._local = threading.local()
        # Weak: a thread that ends drops its connection (see _get).
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()

    def _get(self) -> _Held:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            raw = self.engine.raw_connection()
            driver = raw.driver_connection
            if not self._sqlite:
                raw.rollback()  # autocommit may only be switched outside a transaction
                driver.autocommit = True  # type: ignore[union-attr]
            held = _Held(raw, driver, ReadCursor(raw.cursor(), self.dialect))
            # Once its thread has ended (or the Database is gone without dispose), close the
            # connection and give its place in the pool back.
            held.release = weakref.finalize(held, raw.invalidate)
            self._local.held = held
            with self._lock:
                self._held.add(held)
        return held

    def _drop(self, held: _Held, exc: BaseException) -> None:
        self._local.held = None
        with self._lock:
            self._held.discard(held)
        if held.release is not None:
            held.release.detach()
        held.raw.invalidate(exc)

    @contextmanager
    def read(self) -> Iterator[ReadCursor]:
        try:
            held = self._get()
            if self._sqlite:
                held.driver.execute("BEGIN")
        except self.dialect.loaded_dbapi.Error as exc:
            raise self._translated(exc, died=False) from exc
        try:
            yield held.reader
        except BaseException as exc:
            died = self._died(exc, held)
            if died:
                self._drop(held, exc)
            elif self._sqlite:
                held.driver.execute("ROLLBACK")
            if isinstance(exc, self.dialect.loaded_dbapi.Error):
                raise self._translated(exc, died=died) from exc
            raise
        if self._sqlite:
            held.driver.execute("ROLLBACK")

    def _translated(self, exc: Exception, *, died: bool) -> StatementError:
        # SQLAlchemy's classes (OperationalError, …), as from every other query: the API
        # answers a database that is down or busy with 503, not 500.
        return DBAPIError.instance(
            None,
            None,
            exc,
            self.dialect.loaded_dbapi.Error,
            connection_invalidated=died,
            dialect=self.dialect,
        )

    def run(self, work: Callable[[ReadCursor], T]) -> T:
        """``work`` in a read; once more on a new connection if the held one had died."""
        try:
            with self.read() as reader:
                return work(reader)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise  # the connection is fine: the statement itself failed
            log.warning("read_connection_replaced", error=str(exc))
        with self.read() as reader:
            return work(reader)

    def _died(self, exc: BaseException, held: _Held) -> bool:
        return isinstance(exc, self.dialect.loaded_dbapi.Error) and bool(
            self.dialect.is_disconnect(exc, held.driver, held.reader.cursor)
        )

    def close(self) -> None:
        with self._lock:
            held, self._held = list(self._held), weakref.WeakSet()
        self._local = threading.local()
        for each in held:
            if each.release is not None:
                each.release()
