"""The orders CSV: one row per order line, the rows of one order together (as every platform
exports them). The order's own columns repeat on each of its rows and must agree.

An order with any invalid row is rejected whole, with a problem for every bad cell: an order
half imported (a line missing) would answer eligibility and refunds wrongly, which is worse
than an order missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from returnhub.domain.imported import (
    Batch,
    ImportedCustomer,
    ImportedFulfillment,
    ImportedLine,
    ImportedOrder,
    Problem,
)
from returnhub.services.imports import csv_fields as cells
from returnhub.services.imports.csv_fields import CellError, Columns
from returnhub.services.imports.csv_file import CsvFile, Record

REQUIRED = (
    "order_name",
    "placed_at",
    "currency",
    "customer_email",
    "sku",
    "title",
    "quantity",
    "unit_price",
)
OPTIONAL = (
    "customer_name",
    "customer_phone",
    "shipping_zip",
    "variant",
    "final_sale",
    "delivered_at",
    "carrier",
    "tracking_number",
)
# Columns that describe the order, not the line: the same on every row of one order.
ORDER_LEVEL = (
    "placed_at",
    "currency",
    "customer_email",
    "customer_name",
    "customer_phone",
    "shipping_zip",
    "delivered_at",
)
MAX_LINES = 500


class OrderRows:
    """Turns the rows of one order into an ImportedOrder, or the problems that reject it."""

    def __init__(self, columns: Columns, now: datetime) -> None:
        self.columns = columns
        self.now = now

    def order(self, rows: list[Record]) -> tuple[ImportedOrder | None, list[Problem]]:
        problems: list[Problem] = []
        for record in rows:
            shape = self.columns.shape_problem(record)
            if shape is not None:
                problems.append(shape)
        if problems:
            return None, problems
        values = [self.columns.values(record) for record in rows]
        first, head = rows[0], values[0]

        def cell(
            row: int, cells_of: dict[str, str], column: str, read: Callable[[str], Any]
        ) -> Any:
            try:
                return read(cells_of.get(column, ""))
            except CellError as exc:
                problems.append(Problem(row, column, f"{column} {exc}"))
                return None

        now = self.now
        name = cell(first.row, head, "order_name", lambda v: cells.text(v, 64, required=True))
        placed_at = cell(
            first.row, head, "placed_at", lambda v: cells.timestamp(v, now, required=True)
        )
        currency = cell(first.row, head, "currency", cells.currency_code)
        email = cell(first.row, head, "customer_email", cells.email)
        customer_name = cell(first.row, head, "customer_name", lambda v: cells.text(v, 200))
        shipping_zip = cell(first.row, head, "shipping_zip", lambda v: cells.text(v, 20))
        delivered_at = cell(first.row, head, "delivered_at", lambda v: cells.timestamp(v, now))
        if delivered_at is not None and placed_at is not None and delivered_at < placed_at:
            problems.append(Problem(first.row, "delivered_at", "delivered_at is before placed_at"))
        phone = ""
        if raw_phone := head.get("customer_phone", ""):
            try:
                phone = cells.phone(raw_phone)
            except CellError as exc:
                # The email identifies the customer; an unreadable phone is left out, not fatal.
                problems.append(
                    Problem(first.row, "customer_phone", f"customer_phone {exc}; left out", True)
                )
        for record, other in zip(rows[1:], values[1:], strict=True):
            for column in ORDER_LEVEL:
                if other.get(column, "") != head.get(column, ""):
                    problems.append(
                        Problem(
                            record.row,
                            column,
                            f"{column} differs from row {first.row} of the same order "
                            f"({head.get(column, '')[:40]!r}); an order has one {column}",
                        )
                    )
        if len(rows) > MAX_LINES:
            problems.append(
                Problem(first.row, "order_name", f"the order has {len(rows)} lines; at most 500")
            )
        lines: list[ImportedLine] = []
        fulfillments: dict[tuple[str, str], ImportedFulfillment] = {}
        for record, row in zip(rows, values, strict=True):
            at = record.row
            sku = cell(at, row, "sku", lambda v: cells.text(v, 64, required=True))
            title = cell(at, row, "title", lambda v: cells.text(v, 200, required=True))
            variant = cell(at, row, "variant", lambda v: cells.text(v, 200))
            count = cell(at, row, "quantity", cells.quantity)
            price = (
                cell(at, row, "unit_price", lambda v: cells.amount(v, currency))
                if currency
                else None
            )
            final_sale = cell(at, row, "final_sale", cells.flag)
            carrier = cell(at, row, "carrier", lambda v: cells.text(v, 64))
            tracking = cell(at, row, "tracking_number", lambda v: cells.text(v, 64))
            if tracking and not carrier:
                problems.append(
                    Problem(at, "carrier", "carrier is empty but tracking_number is set")
                )
            elif carrier:
                fulfillments.setdefault(
                    (carrier, tracking or ""), ImportedFulfillment(carrier, tracking or "")
                )
            if sku and title and count and price is not None:
                lines.append(
                    ImportedLine(sku, title, count, price, variant or "", bool(final_sale))
                )
        if any(not p.warning for p in problems):
            return None, problems
        return (
            ImportedOrder(
                name=name,
                placed_at=placed_at,
                currency=currency,
                customer=ImportedCustomer(email, customer_name or "", phone),
                lines=tuple(lines),
                delivered_at=delivered_at,
                shipping_zip=shipping_zip or "",
                fulfillments=tuple(fulfillments.values()),
            ),
            problems,
        )


class OrdersCsv:
    """The orders file as batches of ``chunk`` orders; the checkpoint is the byte offset and
    row number where the next unstored order starts."""

    def __init__(self, file: CsvFile, now: datetime, chunk: int = 2000) -> None:
        self.file = file
        self.chunk = chunk
        self.header = file.header()
        self.columns = Columns.from_header(self.header, REQUIRED, OPTIONAL, str(file.path))
        self.rows = OrderRows(self.columns, now)

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        offset = int(checkpoint.get("offset", self.header.end))
        row = int(checkpoint.get("row", self.header.row))
        batch = Batch(checkpoint={})
        names: dict[str, int] = {}
        pending: list[Record] = []
        last_row = row

        def finish() -> None:
            order, problems = self.rows.order(pending)
            batch.read += 1
            batch.problems.extend(problems)
            name = self.columns.get(pending[0], "order_name")
            if order is not None and name in names:
                batch.problems.append(
                    Problem(
                        pending[0].row,
                        "order_name",
                        f"order {name} has rows apart (from row {names[name]} and from row "
                        f"{pending[0].row}); sort the file by order_name so they are together",
                    )
                )
                order = None
            names.setdefault(name, pending[0].row)
            if order is None:
                batch.invalid += 1
            else:
                batch.orders.append(order)

        for record in self.file.records(offset, row):
            name = self.columns.get(record, "order_name")
            if pending and (name != self.columns.get(pending[0], "order_name") or not name):
                finish()
                pending = []
                if batch.read >= self.chunk:
                    batch.checkpoint = {"offset": record.start, "row": record.row - 1}
                    batch.position = record.start
                    yield batch
                    batch = Batch(checkpoint={})
                    names.clear()
            pending.append(record)
            last_row = record.row
        if pending:
            finish()
        batch.checkpoint = {"offset": self.file.size, "row": last_row, "done": True}
        batch.position = self.file.size
        yield batch
