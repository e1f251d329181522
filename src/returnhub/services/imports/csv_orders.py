"""The orders CSV: one row per order line, the rows of one order together (as every platform
exports them). The order's own columns repeat on each of its rows and must agree.

An order with any invalid row is rejected whole, with a problem for every bad cell: an order
half imported (a line missing) would answer eligibility and refunds wrongly, which is worse
than an order missing.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from returnhub.services.imports.csv_groups import GroupCells, grouped_batches

# In the order the README documents them (and a file may use any order).
COLUMNS = (
    "order_name",
    "placed_at",
    "currency",
    "customer_email",
    "customer_name",
    "customer_phone",
    "shipping_zip",
    "sku",
    "title",
    "variant",
    "quantity",
    "unit_price",
    "final_sale",
    "delivered_at",
    "carrier",
    "tracking_number",
)
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
OPTIONAL = tuple(column for column in COLUMNS if column not in REQUIRED)
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
        group = GroupCells(self.columns, rows)
        if not group.readable:
            return None, group.problems
        read, problems, now = group.read, group.problems, self.now
        first, head = rows[0], group.values[0]
        at = first.row
        name = read(at, head, "order_name", lambda v: cells.text(v, 64, required=True))
        placed_at = read(at, head, "placed_at", lambda v: cells.timestamp(v, now, required=True))
        currency = read(at, head, "currency", cells.currency_code)
        email = read(at, head, "customer_email", cells.email)
        customer_name = read(at, head, "customer_name", lambda v: cells.text(v, 200))
        shipping_zip = read(at, head, "shipping_zip", lambda v: cells.text(v, 20))
        delivered_at = read(at, head, "delivered_at", lambda v: cells.timestamp(v, now))
        if delivered_at is not None and placed_at is not None and delivered_at < placed_at:
            problems.append(Problem(at, "delivered_at", "delivered_at is before placed_at"))
        phone = ""
        if raw_phone := head.get("customer_phone", ""):
            try:
                phone = cells.phone(raw_phone)
            except CellError as exc:
                # The email identifies the customer; an unreadable phone is left out, not fatal.
                problems.append(
                    Problem(at, "customer_phone", f"customer_phone {exc}; left out", True)
                )
        group.agree(rows, ORDER_LEVEL, "order")
        if len(rows) > MAX_LINES:
            problems.append(
                Problem(at, "order_name", f"the order has {len(rows)} lines; at most {MAX_LINES}")
            )
        lines: list[ImportedLine] = []
        fulfillments: dict[tuple[str, str], ImportedFulfillment] = {}
        for record, row in zip(rows, group.values, strict=True):
            at = record.row
            sku = read(at, row, "sku", lambda v: cells.text(v, 64, required=True))
            title = read(at, row, "title", lambda v: cells.text(v, 200, required=True))
            variant = read(at, row, "variant", lambda v: cells.text(v, 200))
            count = read(at, row, "quantity", cells.quantity)
            price = (
                read(at, row, "unit_price", lambda v: cells.amount(v, currency))
                if currency
                else None
            )
            final_sale = read(at, row, "final_sale", cells.flag)
            carrier = read(at, row, "carrier", lambda v: cells.text(v, 64))
            tracking = read(at, row, "tracking_number", lambda v: cells.text(v, 64))
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
        if group.failed:
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
    """The orders file as batches of ``chunk`` orders."""

    def __init__(self, file: CsvFile, now: datetime, chunk: int = 2000) -> None:
        self.file = file
        self.chunk = chunk
        self.header = file.header()
        self.columns = Columns.from_header(self.header, REQUIRED, OPTIONAL, str(file.path))
        self.rows = OrderRows(self.columns, now)

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        # Where each order name in the chunk began: rows of one order apart are refused.
        names: dict[str, int] = {}

        def add(rows: list[Record], batch: Batch) -> None:
            if batch.read == 0:
                names.clear()
            order, problems = self.rows.order(rows)
            batch.read += 1
            batch.problems.extend(problems)
            name = self.columns.get(rows[0], "order_name")
            if order is not None and name in names:
                batch.problems.append(
                    Problem(
                        rows[0].row,
                        "order_name",
                        f"order {name} has rows apart (from row {names[name]} and from row "
                        f"{rows[0].row}); sort the file by order_name so they are together",
                    )
                )
                order = None
            names.setdefault(name, rows[0].row)
            if order is None:
                batch.invalid += 1
            else:
                batch.orders.append(order)

        return grouped_batches(
            self.file, self.columns, "order_name", self.header, checkpoint, self.chunk, add
        )
