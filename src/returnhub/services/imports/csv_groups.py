"""A file's records grouped by a key column (an order's lines, a return's items; a group's rows
are adjacent) and cut into chunks at group boundaries, each chunk with the checkpoint (byte
offset and row) where the next unstored group starts.

The checks every group's rows share live here too: each row readable and of the header's width,
each cell read or reported, and the group's own columns the same on all of its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from returnhub.domain.imported import Batch, Problem
from returnhub.services.imports.csv_fields import CellError, Columns
from returnhub.services.imports.csv_file import CsvFile, Record

# Adds one group to the chunk: its record (or problems) and counts.
AddGroup = Callable[[list[Record], Batch], None]


def grouped_batches(
    file: CsvFile,
    columns: Columns,
    key: str,
    header: Record,
    checkpoint: dict[str, Any],
    chunk: int,
    add: AddGroup,
) -> Iterator[Batch]:
    offset = int(checkpoint.get("offset", header.end))
    row = int(checkpoint.get("row", header.row))
    batch = Batch(checkpoint={})
    pending: list[Record] = []
    last_row = row
    for record in file.records(offset, row):
        value = columns.get(record, key)
        if pending and (value != columns.get(pending[0], key) or not value):
            add(pending, batch)
            pending = []
            if batch.read >= chunk:
                batch.checkpoint = {"offset": record.start, "row": record.row - 1}
                batch.position = record.start
                yield batch
                batch = Batch(checkpoint={})
        pending.append(record)
        last_row = record.row
    if pending:
        add(pending, batch)
    batch.checkpoint = {"offset": file.size, "row": last_row, "done": True}
    batch.position = file.size
    yield batch


class GroupCells:
    """Reads the cells of one group's rows, collecting a Problem for every bad one."""

    def __init__(self, columns: Columns, rows: list[Record]) -> None:
        self.problems: list[Problem] = [
            problem for record in rows if (problem := columns.shape_problem(record)) is not None
        ]
        self.readable = not self.problems
        self.values = [columns.values(record) for record in rows] if self.readable else []

    def read(
        self, row: int, values: dict[str, str], column: str, parse: Callable[[str], Any]
    ) -> Any:
        try:
            return parse(values.get(column, ""))
        except CellError as exc:
            self.problems.append(Problem(row, column, f"{column} {exc}"))
            return None

    def agree(self, rows: Sequence[Record], shared: Sequence[str], what: str) -> None:
        """The group's own columns (``shared``) must hold the same on every row."""
        head = self.values[0]
        for record, other in zip(rows[1:], self.values[1:], strict=True):
            for column in shared:
                if other.get(column, "") != head.get(column, ""):
                    self.problems.append(
                        Problem(
                            record.row,
                            column,
                            f"{column} differs from row {rows[0].row} of the same {what} "
                            f"({head.get(column, '')[:40]!r}); all rows of one {what} have "
                            f"the same {column}",
                        )
                    )

    @property
    def failed(self) -> bool:
        return any(not problem.warning for problem in self.problems)
