"""Prepared reads: a Core SELECT compiled once per engine and run straight on the driver's cursor.

Gladly's lookups run the same few SELECTs thousands of times a second, and SQLAlchemy's
execution path around each one (cache key, execution context, result metadata, row objects, the
pooled connection's begin and commit) costs about three times what SQLite spends running them:
0.45 ms against 0.12 ms for the three DETAILED statements on a 100,000-customer file. The
statements are still written in Core, typed against the tables and rendered for each engine by
SQLAlchemy's compiler; only their execution is ours. Values go through each column's own result
processor (UTC datetimes, JSON lists), so a row here equals the row SQLAlchemy would return.

``fetch`` takes either a ``ReadCursor`` (the fast path) or a Session/Connection (tests and code
that already holds a transaction), so one query function serves both.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Row = tuple[Any, ...]
T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Slot:
    """Where one driver parameter's value comes from: ``params[name]``, or its ``index``-th
    element for an expanding IN list."""

    name: str
    index: int | None = None

    def value(self, params: Mapping[str, Any]) -> Any:
        found = params[self.name]
        return found if self.index is None else found[self.index]


@dataclass(frozen=True)
class _Shape:
    """The SQL for one set of IN-list lengths, and its driver parameters in order (positional
    drivers) or by name (named ones)."""

    sql: str
    slots: tuple[tuple[str, _Slot], ...]
    positional: bool

    def values(self, params: Mapping[str, Any]) -> Any:
        if self.positional:
            return [slot.value(params) for _, slot in self.slots]
        return {key: slot.value(params) for key, slot in self.slots}


@dataclass
class _Compiled:
    compiled: SQLCompiler
    defaults: Mapping[str, Any]  # values of parameters bound in the statement itself
    expanding: tuple[str, ...]  # IN (…) lists: the SQL depends on their lengths
    # (column index, result processor) for the columns that have one; most have none.
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]
    shapes: dict[tuple[int, ...], _Shape] = field(default_factory=dict)

    def shape(self, params: Mapping[str, Any]) -> _Shape:
        lengths = tuple(len(params[name]) for name in self.expanding)
        found = self.shapes.get(lengths)
        if found is None:
            # Let SQLAlchemy expand the lists once per set of lengths, with markers in place of
            # the values, and remember where each marker went: building the expanded SQL
            # anew (a regex pass and per-value bookkeeping) was a third of a BASIC lookup.
            probe: dict[str, Any] = {
                name: _Slot(name) for name in self.compiled.bind_names.values()
            }
            for name, length in zip(self.expanding, lengths, strict=True):
                probe[name] = [_Slot(name, i) for i in range(length)]
            state = self.compiled.construct_expanded_state(probe)
            order = state.positiontup or list(state.parameters)
            slots = tuple((key, state.parameters[key]) for key in order)
            assert all(isinstance(slot, _Slot) for _, slot in slots)
            found = _Shape(state.statement, slots, self.compiled.positional)
            self.shapes[lengths] = found
        return found


class PreparedSelect:
    """A SELECT to run many times with different parameters. The values are handed to the
    driver as given: bind only strings, numbers and lists of them (a type with a bind
    processor is refused when the statement is first compiled)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = cast(ClauseElement, self.statement).compile(dialect=dialect)
            assert isinstance(compiled, SQLCompiler)
            if any(compiled._bind_processors.values()):
                raise TypeError(
                    f"PreparedSelect binds values as they are; {sorted(compiled._bind_processors)}"
                    f" need a bind processor on {dialect.name}"
                )
            processors = tuple(
                column.type._cached_result_processor(dialect, None)
                for column in compiled._result_columns
            )
            found = _Compiled(
                compiled=compiled,
                defaults={k: v for k, v in compiled.params.items() if v is not None},
                expanding=tuple(
                    compiled.bind_names[b] for b in compiled.binds.values() if b.expanding
                ),
                processed=tuple((i, p) for i, p in enumerate(processors) if p is not None),
            )
            self._by_dialect[dialect.name] = found
        return found

    def execute(self, cursor: Any, dialect: Dialect, params: Mapping[str, Any]) -> list[Row]:
        c = self._compiled(dialect)
        merged = {**c.defaults, **params} if c.defaults else params
        shape = c.shape(merged)
        cursor.execute(shape.sql, shape.values(merged))
        rows = cursor.fetchall()
        if not c.processed:
            return rows  # type: ignore[no-any-return]
        out = []
        for fetched in rows:
            row = list(fetched)
            for index, process in c.processed:
                value = row[index]
                if value is not None:
                    row[index] = process(value)
            out.append(tuple(row))
        return out


class ReadCursor:
    """A driver cursor inside one read transaction (see ``read_cursor``)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def rows(self, prepared: PreparedSelect, params: Mapping[str, Any]) -> list[Row]:
        return prepared.execute(self.cursor, self.dialect, params)


Reader = Session | Connection | ReadCursor


def fetch(reader: Reader, prepared: PreparedSelect, params: Mapping[str, Any]) -> Sequence[Row]:
    """The rows of ``prepared``: on the driver for a ReadCursor, else through SQLAlchemy."""
    if isinstance(reader, ReadCursor):
        return reader.rows(prepared, params)
    return [tuple(row) for row in reader.execute(prepared.statement, dict(params))]


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
    api/deps.py) each keep one connection, opened by the engine (with its PRAGMAs) and closed
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
            raise self._translated(exc) from exc
        try:
            yield held.reader
        except BaseException as exc:
            if self._died(exc, held):
                self._drop(held, exc)
            elif self._sqlite:
                held.driver.execute("ROLLBACK")
            if isinstance(exc, self.dialect.loaded_dbapi.Error):
                raise self._translated(exc) from exc
            raise
        if self._sqlite:
            held.driver.execute("ROLLBACK")

    def _translated(self, exc: Exception) -> StatementError:
        # SQLAlchemy's classes (OperationalError, …), as from every other query: the API
        # answers a database that is down or busy with 503, not 500.
        return DBAPIError.instance(
            None, None, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect
        )

    def run(self, work: Callable[[ReadCursor], T]) -> T:
        """``work`` in a read; once more on a new connection if the held one had died."""
        try:
            with self.read() as reader:
                return work(reader)
        except DBAPIError as exc:
            if getattr(self._local, "held", None) is not None:
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
