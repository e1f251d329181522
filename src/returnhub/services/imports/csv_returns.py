"""The returns CSV: one row per returned order line, the rows of one return together. A return
names its order by name and its lines by SKU; prices, titles, currency and customer are the
ledger order's, so the order must be in the ledger (the orders file is imported first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from returnhub.domain.imported import Batch, ImportedReturn, ImportedReturnItem, Problem
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome
from returnhub.services.imports import csv_fields as cells
from returnhub.services.imports.csv_fields import CellError, Columns
from returnhub.services.imports.csv_file import CsvFile, Record

REQUIRED = ("return_id", "order_name", "created_at", "state", "sku", "quantity")
OPTIONAL = (
    "updated_at",
    "outcome",
    "reason",
    "comment",
    "refund_amount",
    "label_carrier",
    "label_tracking_number",
)
RETURN_LEVEL = (
    "order_name",
    "created_at",
    "updated_at",
    "state",
    "refund_amount",
    "label_carrier",
    "label_tracking_number",
)
STATES = ", ".join(s.value for s in ReturnState)
OUTCOMES = ", ".join(o.value for o in Outcome)


def _state(value: str) -> ReturnState:
    try:
        return ReturnState(value.lower())
    except ValueError:
        raise CellError(f"{value[:20]!r}: write one of {STATES}") from None


def _outcome(value: str) -> Outcome:
    try:
        return Outcome(value.lower() or Outcome.REFUND.value)
    except ValueError:
        raise CellError(f"{value[:20]!r}: write one of {OUTCOMES} (empty means refund)") from None


class ReturnRows:
    def __init__(self, columns: Columns, source: str, now: datetime) -> None:
        self.columns = columns
        self.source = source
        self.now = now

    def return_(self, rows: list[Record]) -> tuple[ImportedReturn | None, list[Problem]]:
        problems: list[Problem] = []
        first = rows[0]

        def cell(record: Record, column: str, read: Callable[[str], Any]) -> Any:
            try:
                return read(self.columns.get(record, column))
            except CellError as exc:
                problems.append(Problem(record.row, column, f"{column} {exc}"))
                return None

        for record in rows:
            shape = self.columns.shape_problem(record)
            if shape is not None:
                problems.append(shape)
        if problems:
            return None, problems
        get = self.columns.get
        external_id = cell(first, "return_id", lambda v: cells.text(v, 100, required=True))
        order_name = cell(first, "order_name", lambda v: cells.text(v, 64, required=True))
        created_at = cell(
            first, "created_at", lambda v: cells.timestamp(v, self.now, required=True)
        )
        updated_at = cell(first, "updated_at", lambda v: cells.timestamp(v, self.now))
        state = cell(first, "state", _state)
        refund = cell(first, "refund_amount", lambda v: v and cells.plain_decimal(v))
        carrier = cell(first, "label_carrier", lambda v: cells.text(v, 64))
        tracking = cell(first, "label_tracking_number", lambda v: cells.text(v, 64))
        for record in rows[1:]:
            for column in RETURN_LEVEL:
                if get(record, column) != get(first, column):
                    problems.append(
                        Problem(
                            record.row,
                            column,
                            f"{column} differs from row {first.row} of the same return "
                            f"({get(first, column)[:40]!r}); a return has one {column}",
                        )
                    )
        items: list[ImportedReturnItem] = []
        for record in rows:
            sku = cell(record, "sku", lambda v: cells.text(v, 64, required=True))
            count = cell(record, "quantity", cells.quantity)
            outcome = cell(record, "outcome", _outcome)
            reason = cell(record, "reason", lambda v: cells.text(v, 100))
            comment = cell(record, "comment", lambda v: cells.text(v, 2000))
            if sku and count and outcome is not None:
                items.append(
                    ImportedReturnItem(sku, count, outcome, reason or "", comment or "", record.row)
                )
        if problems:
            return None, problems
        return (
            ImportedReturn(
                source=self.source,
                external_id=external_id,
                order_name=order_name,
                state=state,
                created_at=created_at,
                items=tuple(items),
                updated_at=updated_at,
                refund_amount=refund or "",
                label_carrier=carrier or "",
                label_tracking_number=tracking or "",
                row=first.row,
            ),
            problems,
        )


class ReturnsCsv:
    """The returns file as batches of ``chunk`` returns (see OrdersCsv for the checkpoint)."""

    def __init__(self, file: CsvFile, source: str, now: datetime, chunk: int = 500) -> None:
        self.file = file
        self.chunk = chunk
        self.header = file.header()
        self.columns = Columns.from_header(self.header, REQUIRED, OPTIONAL, str(file.path))
        self.rows = ReturnRows(self.columns, source, now)

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        offset = int(checkpoint.get("offset", self.header.end))
        row = int(checkpoint.get("row", self.header.row))
        batch = Batch(checkpoint={})
        pending: list[Record] = []
        last_row = row

        def finish() -> None:
            ret, problems = self.rows.return_(pending)
            batch.read += 1
            batch.problems.extend(problems)
            if ret is None:
                batch.invalid += 1
            else:
                batch.returns.append(ret)

        for record in self.file.records(offset, row):
            key = self.columns.get(record, "return_id")
            if pending and (key != self.columns.get(pending[0], "return_id") or not key):
                finish()
                pending = []
                if batch.read >= self.chunk:
                    batch.checkpoint = {"offset": record.start, "row": record.row - 1}
                    batch.position = record.start
                    yield batch
                    batch = Batch(checkpoint={})
            pending.append(record)
            last_row = record.row
        if pending:
            finish()
        batch.checkpoint = {"offset": self.file.size, "row": last_row, "done": True}
        batch.position = self.file.size
        yield batch
