"""Engines and transactions for SQLite and PostgreSQL.

SQLite: WAL so readers never block the writer, a busy timeout so concurrent writers wait instead
of failing, foreign keys on, and ``BEGIN IMMEDIATE`` for write transactions so two writers never
both read and then deadlock on the upgrade to a write lock. Python 3.11's sqlite3 driver opens
transactions on its own (and not for every statement); we switch that off and issue BEGIN
ourselves, which is the recipe SQLAlchemy documents for correct SERIALIZABLE semantics.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from returnhub.settings import Settings
from returnhub.store.held_reads import HeldReads
from returnhub.store.prepared import ReadCursor
from returnhub.store.write_health import WriteHealth

WRITE_OPTION = "returnhub_write"
T = TypeVar("T")


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        path = settings.sqlite_path()
        pool: dict[str, int] = {}
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Kept open, not reopened per burst: each SQLite connection has its own page cache.
            pool = {"pool_size": 10, "max_overflow": 20}
        engine = create_engine(
            url,
            **pool,
            connect_args={
                "check_same_thread": False,
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
            },
        )
        _tune_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: we emit BEGIN ourselves in _on_begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Reads through a memory map: no read() call and copy per page, and the pages are
        # shared by every connection through the OS cache (256 MiB of address space).
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver: every transaction starts here, and a statement through
        # SQLAlchemy's execution machinery costs more than the BEGIN itself.
        driver = connection.connection.driver_connection
        if connection.get_execution_options().get(WRITE_OPTION, False):
            begin_immediate(driver, busy_timeout_ms)
        else:
            driver.execute("BEGIN")


# How often a writer waiting for another process's write lock tries again.
WRITE_LOCK_POLL_SECONDS = 0.0005


def begin_immediate(driver: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting up to the busy timeout for another process's write lock by
    trying again every half millisecond. SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20,
    25, 25, 25, 50, 50, 100 ms between tries, so with the worker in its own process committing
    every few milliseconds, a webhook's intake could sleep past many free moments (p99 over a
    second); polling takes the lock at the first one. Only the BEGIN waits this way: once it
    holds the write lock the transaction's statements cannot meet another writer, and the
    connection's reads keep SQLite's handler."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    driver.execute("PRAGMA busy_timeout=0")  # microseconds; restored below for the reads
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(WRITE_LOCK_POLL_SECONDS)
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class Database:
    """One engine and two ways into it: read transactions and write transactions."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings
        # What every session opened here carries: what the app wires when it is built
        # (services.events.subscribe). Shared, not copied: a session sees what was wired
        # before it was opened.
        self.session_info: dict[str, Any] = {}
        info = self.session_info
        self._read = sessionmaker(bind=engine, expire_on_commit=False, info=info)
        self._sqlite_writer = threading.RLock() if engine.dialect.name == "sqlite" else None
        self._held_reads = HeldReads(engine)
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        # Failed writes, for readiness (a database can answer reads while writes fail).
        self.write_health = WriteHealth()
        self._write = sessionmaker(
            bind=self._write_engine,
            expire_on_commit=False,
            info=info,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(make_engine(settings), settings)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        # SQLite has one writer at a time. Threads of this process queue on a Python lock
        # (handed over at once) instead of colliding in BEGIN IMMEDIATE and backing off in
        # SQLite's busy handler, which sleeps in steps of milliseconds; other processes still
        # wait through the busy timeout.
        if self._sqlite_writer is None:
            yield
            return
        with self._sqlite_writer:
            yield

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls everything back on any exception."""
        try:
            with self._writer_turn(), self._write() as session, session.begin():
                yield session
        except DBAPIError as exc:
            self.write_health.record(exc)
            raise

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A write transaction on a bare Core connection: for hot paths (webhook intake) that
        only run prepared statements and do not need the ORM's unit of work."""
        try:
            with self._writer_turn(), self._write_engine.begin() as connection:
                yield connection
        except DBAPIError as exc:
            self.write_health.record(exc)
            raise

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A read transaction on a bare Core connection: for hot paths that only select."""
        with self.engine.begin() as connection:
            yield connection

    def read_cursor(self) -> AbstractContextManager[ReadCursor]:
        """A read on the driver's cursor, for prepared statements (see prepared.py)."""
        return self._held_reads.read()

    def run_read(self, work: Callable[[ReadCursor], T]) -> T:
        """``work`` in ``read_cursor``, run once more if the connection had died (a database
        restart): for reads that must answer, such as Gladly's lookups."""
        return self._held_reads.run(work)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self._held_reads.close()
        self.engine.dispose()
