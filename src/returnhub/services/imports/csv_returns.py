"""The returns CSV: one row per returned order line, the rows of one return together. A return
names its order by name and its lines by SKU; prices, titles, currency and customer are the
ledger order's, so the order must be in the ledger (the orders file is imported first).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from returnhub.domain.imported import Batch, ImportedReturn, ImportedReturnItem, Problem
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome
from returnhub.services.imports import csv_fields as cells
from returnhub.services.imports.csv_fields import CellError, Columns
from returnhub.services.imports.csv_file import CsvFile, Record
from returnhub.services.imports.csv_groups import GroupCells, grouped_batches

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
        group = GroupCells(self.columns, rows)
        if not group.readable:
            return None, group.problems
        read, now = group.read, self.now
        first, head = rows[0], group.values[0]
        at = first.row
        external_id = read(at, head, "return_id", lambda v: cells.text(v, 100, required=True))
        order_name = read(at, head, "order_name", lambda v: cells.text(v, 64, required=True))
        created_at = read(at, head, "created_at", lambda v: cells.timestamp(v, now, required=True))
        updated_at = read(at, head, "updated_at", lambda v: cells.timestamp(v, now))
        state = read(at, head, "state", _state)
        refund = read(at, head, "refund_amount", lambda v: v and cells.plain_decimal(v))
        carrier = read(at, head, "label_carrier", lambda v: cells.text(v, 64))
        tracking = read(at, head, "label_tracking_number", lambda v: cells.text(v, 64))
        group.agree(rows, RETURN_LEVEL, "return")
        items: list[ImportedReturnItem] = []
        for record, row in zip(rows, group.values, strict=True):
            at = record.row
            sku = read(at, row, "sku", lambda v: cells.text(v, 64, required=True))
            count = read(at, row, "quantity", cells.quantity)
            outcome = read(at, row, "outcome", _outcome)
            reason = read(at, row, "reason", lambda v: cells.text(v, 100))
            comment = read(at, row, "comment", lambda v: cells.text(v, 2000))
            if sku and count and outcome is not None:
                items.append(
                    ImportedReturnItem(sku, count, outcome, reason or "", comment or "", at)
                )
        if group.failed:
            return None, group.problems
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
            group.problems,
        )


class ReturnsCsv:
    """The returns file as batches of ``chunk`` returns."""

    def __init__(self, file: CsvFile, source: str, now: datetime, chunk: int = 500) -> None:
        self.file = file
        self.chunk = chunk
        self.header = file.header()
        self.columns = Columns.from_header(self.header, REQUIRED, OPTIONAL, str(file.path))
        self.rows = ReturnRows(self.columns, source, now)

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        def add(rows: list[Record], batch: Batch) -> None:
            ret, problems = self.rows.return_(rows)
            batch.read += 1
            batch.problems.extend(problems)
            if ret is None:
                batch.invalid += 1
            else:
                batch.returns.append(ret)

        return grouped_batches(
            self.file, self.columns, "return_id", self.header, checkpoint, self.chunk, add
        )
