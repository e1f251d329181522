"""Prepared reads: a Core SELECT compiled once per engine and run straight on the driver's cursor.

Gladly's lookups run the same few SELECTs thousands of times a second, and SQLAlchemy's
execution path around each one (cache key, execution context, result metadata, row objects, the
pooled connection's begin and commit) costs about three times what SQLite spends running them:
0.45 ms against 0.12 ms for the three DETAILED statements on a 100,000-customer file. The
statements are still written in Core, typed against the tables and rendered for each engine by
SQLAlchemy's compiler; only their execution is ours. Values go through each column's own result
processor (UTC datetimes, JSON lists), so a row here equals the row SQLAlchemy would return.

``fetch`` takes either a ``ReadCursor`` (the fast path; ``store/held_reads.py`` hands them out)
or a Session/Connection (tests and code that already holds a transaction), so one query
function serves both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Row = tuple[Any, ...]


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
