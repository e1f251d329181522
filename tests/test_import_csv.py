"""The CSV import: formats, validation report, chunked storage with a checkpoint, resume, re-runs,
and files from strangers (huge fields, bad encodings, broken quoting, formulas)."""

from __future__ import annotations

import csv
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from returnhub.cli import app
from returnhub.domain.external import ExternalItem, ExternalReturn
from returnhub.domain.imported import Batch, Counts, ImportedCustomer
from returnhub.domain.lifecycle import ReturnState
from returnhub.services.imports import core
from returnhub.services.imports.csv_file import MAX_LINE_BYTES, UnreadableFile
from returnhub.services.imports.csv_orders import COLUMNS
from returnhub.services.imports.csv_source import CsvSource
from returnhub.settings import get_settings
from returnhub.store.db import Database
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    Fulfillment,
    ImportRun,
    Order,
    OrderLine,
    Return,
    ReturnItem,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ORDER_HEADER = list(COLUMNS)
RETURN_HEADER = [
    "return_id",
    "order_name",
    "created_at",
    "updated_at",
    "state",
    "sku",
    "quantity",
    "outcome",
    "reason",
    "refund_amount",
]


def line(name: str, sku: str = "TEE-M", **fields: str) -> dict[str, str]:
    row = {
        "order_name": name,
        "placed_at": "2026-03-01T14:30:00Z",
        "currency": "USD",
        "customer_email": f"{name.strip('#')}@example.com",
        "customer_name": f"Customer {name}",
        "customer_phone": "+14155550123",
        "shipping_zip": "94107",
        "sku": sku,
        "title": f"Title {sku}",
        "variant": "M",
        "quantity": "1",
        "unit_price": "25.00",
        "final_sale": "false",
        "delivered_at": "2026-03-05T10:00:00Z",
        "carrier": "UPS",
        "tracking_number": f"1Z{name.strip('#')}",
    }
    row.update(fields)
    return row


def return_row(return_id: str, order_name: str, **fields: str) -> dict[str, str]:
    row = dict.fromkeys(RETURN_HEADER, "")
    row.update(
        return_id=return_id,
        order_name=order_name,
        created_at="2026-03-10T10:00:00Z",
        state="requested",
        sku="TEE-M",
        quantity="1",
    )
    row.update(fields)
    return row


def write(path: Path, header: list[str], rows: list[dict[str, str]], **options: Any) -> Path:
    with path.open("w", newline="", encoding=options.pop("encoding", "utf-8")) as handle:
        writer = csv.DictWriter(handle, header, **options)
        writer.writeheader()
        writer.writerows(rows)
    return path


def orders_file(tmp_path: Path, count: int, name: str = "orders.csv") -> Path:
    rows = []
    for i in range(count):
        rows.append(line(f"#{1000 + i}", "TEE-M"))
        if i % 2 == 0:
            rows.append(line(f"#{1000 + i}", "HAT", quantity="2", unit_price="9.99"))
    return write(tmp_path / name, ORDER_HEADER, rows)


def source(orders: Path, returns: Path | None = None, chunk: int = 2000) -> CsvSource:
    return CsvSource(orders, returns, NOW, chunk=chunk)


def ignore(_batch: Batch, _totals: Counts) -> None:
    return None


def run_all(db: Database, src: core.Source, resume: str | None = None) -> tuple[str, Counts]:
    started = core.start(db, src, resume)
    return started.public_id, core.run(db, src, started, ignore)


def count(db: Database, table: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def problems_of(src: CsvSource) -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []

    def collect(batch: Batch, _totals: Counts) -> None:
        found.extend((p.row, p.column, p.message) for p in batch.problems)

    core.validate(src, collect)
    return found


# ---- round trip ------------------------------------------------------------------------------


def test_round_trip_orders_customers_lines_fulfillments_and_returns(
    db: Database, tmp_path: Path
) -> None:
    orders = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            line("#1001", "TEE-M", quantity="2", customer_email="Jane@Example.com"),
            line(
                "#1001",
                "HAT",
                unit_price="15.5",
                final_sale="true",
                customer_email="Jane@Example.com",
            ),
            line(
                "#1002",
                "BAG",
                currency="JPY",
                unit_price="3000",
                customer_email="jane@example.com",
                customer_name="Customer #1001",
                delivered_at="",
                carrier="",
                tracking_number="",
            ),
        ],
    )
    returns = write(
        tmp_path / "returns.csv",
        RETURN_HEADER,
        [
            return_row(
                "R-1",
                "#1001",
                state="received",
                outcome="refund",
                reason="too small",
                refund_amount="25.00",
            ),
            return_row(
                "R-1",
                "#1001",
                state="received",
                sku="HAT",
                outcome="exchange",
                reason="colour",
                refund_amount="25.00",
            ),
        ],
    )
    public_id, totals = run_all(db, source(orders, returns))
    assert (totals.read, totals.created, totals.invalid) == (3, 3, 0)
    with db.read() as session:
        customers = session.scalars(select(Customer)).all()
        assert len(customers) == 1  # matched by email, case aside
        assert [e.email for e in customers[0].emails] == ["jane@example.com"]
        assert [p.number for p in customers[0].phones] == ["+14155550123"]
        first = session.scalar(select(Order).where(Order.name == "#1001"))
        assert first is not None
        assert [(li.sku, li.quantity, li.unit_price, li.final_sale) for li in first.lines] == [
            ("TEE-M", 2, 2500, False),
            ("HAT", 1, 1550, True),
        ]
        assert first.delivered_at == datetime(2026, 3, 5, 10, tzinfo=UTC)
        assert [(f.carrier, f.tracking_number) for f in first.fulfillments] == [("UPS", "1Z1001")]
        yen = session.scalar(select(Order).where(Order.name == "#1002"))
        assert yen is not None and yen.lines[0].unit_price == 3000 and not yen.fulfillments
        ret = session.scalar(select(Return))
        assert ret is not None
        assert (ret.source_system, ret.external_id, ret.state) == ("csv", "R-1", "received")
        assert ret.order_id == first.id and ret.refund_amount == 2500
        assert sorted((i.outcome, i.quantity) for i in ret.items) == [
            ("exchange", 1),
            ("refund", 1),
        ]
        run = session.scalar(select(ImportRun).where(ImportRun.public_id == public_id))
        assert run is not None and run.status == "succeeded" and run.finished_at is not None
        assert (run.read, run.created, run.invalid) == (3, 3, 0)


def test_orders_straddling_chunks_keep_every_line(db: Database, tmp_path: Path) -> None:
    path = orders_file(tmp_path, 9)
    _, totals = run_all(db, source(path, chunk=2))
    assert (totals.read, totals.created) == (9, 9)
    assert count(db, OrderLine) == 9 + 5


# ---- dry run and validation report -----------------------------------------------------------


def test_dry_run_reports_and_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [line("#1"), line("#2", quantity="-3"), line("#3", unit_price="1e9")],
    )
    problems = problems_of(source(path))
    assert [(row, column) for row, column, _ in problems] == [(3, "quantity"), (4, "unit_price")]
    assert "whole number from 1" in problems[0][2]
    assert "plain decimal" in problems[1][2]
    assert count(db, Order) == 0 and count(db, ImportRun) == 0


def test_an_invalid_line_rejects_its_whole_order(db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [line("#1"), line("#2"), line("#2", "HAT", quantity="0"), line("#3")],
    )
    _, totals = run_all(db, source(path))
    assert (totals.read, totals.created, totals.invalid) == (3, 2, 1)
    with db.read() as session:
        assert sorted(session.scalars(select(Order.name))) == ["#1", "#3"]


def test_order_level_columns_must_agree_across_its_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [line("#1"), line("#1", "HAT", currency="EUR")],
    )
    assert [(r, c) for r, c, _ in problems_of(source(path))] == [(3, "currency")]


def test_rows_of_one_order_apart_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", ORDER_HEADER, [line("#1"), line("#2"), line("#1", "HAT")])
    problems = problems_of(source(path))
    assert problems and "sort the file by order_name" in problems[0][2]


def test_an_unreadable_phone_is_left_out_with_a_warning(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", ORDER_HEADER, [line("#1", customer_phone="n/a")])
    assert [(r, c) for r, c, _ in problems_of(source(path))] == [(2, "customer_phone")]
    _, totals = run_all(db, source(path))
    assert totals.created == 1 and count(db, CustomerPhone) == 0


# ---- re-runs -----------------------------------------------------------------------------------


def test_running_the_same_file_again_duplicates_nothing(db: Database, tmp_path: Path) -> None:
    path = orders_file(tmp_path, 7)
    first_id, first = run_all(db, source(path, chunk=3))
    before = [count(db, t) for t in (Customer, CustomerEmail, Order, OrderLine, Fulfillment)]
    second_id, second = run_all(db, source(path, chunk=3))
    assert second_id != first_id
    assert (first.created, second.created, second.skipped, second.updated) == (7, 0, 7, 0)
    assert [
        count(db, t) for t in (Customer, CustomerEmail, Order, OrderLine, Fulfillment)
    ] == before


def test_an_order_in_the_ledger_gains_only_what_the_csv_adds(db: Database, tmp_path: Path) -> None:
    bare = write(
        tmp_path / "a.csv",
        ORDER_HEADER,
        [line("#1", delivered_at="", carrier="", tracking_number=""), line("#2")],
    )
    run_all(db, source(bare))
    fuller = write(
        tmp_path / "b.csv",
        ORDER_HEADER,
        [line("#1", quantity="5", title="Renamed"), line("#2")],
    )
    _, totals = run_all(db, source(fuller))
    assert (totals.created, totals.updated, totals.skipped) == (0, 1, 1)
    with db.read() as session:
        order = session.scalar(select(Order).where(Order.name == "#1"))
        assert order is not None
        assert order.delivered_at == datetime(2026, 3, 5, 10, tzinfo=UTC)
        assert [(f.carrier, f.tracking_number) for f in order.fulfillments] == [("UPS", "1Z1")]
        # Lines stay as the ledger has them: returns point at them.
        assert [(li.quantity, li.title) for li in order.lines] == [(1, "Title TEE-M")]


def test_returns_imported_again_change_nothing(db: Database, tmp_path: Path) -> None:
    orders = orders_file(tmp_path, 2)
    returns = write(
        tmp_path / "returns.csv",
        RETURN_HEADER,
        [return_row("R-9", "#1000", updated_at="2026-03-11T10:00:00Z", sku="HAT", quantity="2")],
    )
    run_all(db, source(orders, returns))
    _, again = run_all(db, source(orders, returns))
    assert (again.created, again.updated) == (0, 0)
    assert count(db, Return) == 1 and count(db, ReturnItem) == 1


def test_return_problems_found_in_the_ledger_name_the_row(db: Database, tmp_path: Path) -> None:
    orders = orders_file(tmp_path, 1)
    rows = [
        return_row("R-1", "#404", sku="HAT"),
        return_row("R-2", "#1000", sku="NOPE"),
        return_row("R-3", "#1000", sku="HAT", quantity="3"),
        return_row("R-4", "#1000", state="lost", sku="HAT"),
    ]
    returns = write(tmp_path / "returns.csv", RETURN_HEADER, rows)
    found: list[tuple[int, str]] = []
    src = source(orders, returns)
    started = core.start(db, src)
    totals = core.run(
        db, src, started, lambda b, _t: found.extend((p.row, p.column) for p in b.problems)
    )
    assert sorted(found) == [(2, "order_name"), (3, "sku"), (4, "quantity"), (5, "state")]
    assert totals.invalid == 4 and count(db, Return) == 0


# ---- interruption and resume -------------------------------------------------------------------


class Crashing:
    """A source that dies after ``after`` chunks, as a process killed mid-file would."""

    def __init__(self, inner: CsvSource, after: int, error: BaseException) -> None:
        self.inner = inner
        self.after = after
        self.error = error
        self.name = inner.name

    def parameters(self) -> dict[str, Any]:
        return self.inner.parameters()

    def total(self) -> int:
        return self.inner.total()

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        for index, batch in enumerate(self.inner.batches(checkpoint)):
            if index == self.after:
                raise self.error
            yield batch


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError("disk gone")])
def test_an_interrupted_import_resumes_from_its_last_chunk(
    db: Database, tmp_path: Path, error: BaseException
) -> None:
    orders = orders_file(tmp_path, 20)
    returns = write(
        tmp_path / "returns.csv",
        RETURN_HEADER,
        [return_row(f"R-{i}", f"#{1000 + i}") for i in range(8)],
    )
    crashing = Crashing(source(orders, returns, chunk=4), after=3, error=error)
    started = core.start(db, crashing)
    with pytest.raises(type(error)):
        core.run(db, crashing, started, ignore)
    with db.read() as session:
        run = session.scalar(select(ImportRun).where(ImportRun.public_id == started.public_id))
        assert run is not None
        assert run.status == ("interrupted" if isinstance(error, KeyboardInterrupt) else "failed")
        assert run.read == 12 and run.checkpoint["phase"] == "orders"
    assert count(db, Order) == 12
    # The same command again finds the unfinished import of the same files and goes on.
    again = core.start(db, source(orders, returns, chunk=4))
    assert again.resumed and again.public_id == started.public_id
    totals = core.run(db, source(orders, returns, chunk=4), again, ignore)
    assert (totals.read, totals.created, totals.invalid) == (28, 28, 0)
    assert count(db, Order) == 20 and count(db, OrderLine) == 30 and count(db, Return) == 8
    assert count(db, Customer) == 20


def test_an_interruption_in_the_returns_resumes_there(db: Database, tmp_path: Path) -> None:
    orders = orders_file(tmp_path, 4)
    returns = write(
        tmp_path / "returns.csv",
        RETURN_HEADER,
        [return_row(f"R-{i}", f"#{1000 + i}") for i in range(4)],
    )
    crashing = Crashing(source(orders, returns, chunk=4), after=2, error=KeyboardInterrupt())
    started = core.start(db, crashing)
    with pytest.raises(KeyboardInterrupt):
        core.run(db, crashing, started, ignore)
    assert count(db, Return) == 1
    _, totals = run_all(db, source(orders, returns, chunk=4), started.public_id)
    assert totals.read == 8 and count(db, Return) == 4


def test_a_resume_refuses_a_different_file(db: Database, tmp_path: Path) -> None:
    orders = orders_file(tmp_path, 6)
    crashing = Crashing(source(orders, chunk=2), after=1, error=KeyboardInterrupt())
    started = core.start(db, crashing)
    with pytest.raises(KeyboardInterrupt):
        core.run(db, crashing, started, ignore)
    changed = orders_file(tmp_path, 7)
    with pytest.raises(core.ImportRefused, match="a resume must read the same files"):
        core.start(db, source(changed, chunk=2), started.public_id)
    # Without --resume, a different file is a new import.
    fresh = core.start(db, source(changed, chunk=2))
    assert not fresh.resumed and fresh.public_id != started.public_id


def test_a_finished_import_is_not_resumed(db: Database, tmp_path: Path) -> None:
    orders = orders_file(tmp_path, 2)
    public_id, _ = run_all(db, source(orders))
    with pytest.raises(core.ImportRefused, match="has finished"):
        core.start(db, source(orders), public_id)
    with pytest.raises(core.ImportRefused, match="no import"):
        core.start(db, source(orders), "imp_nope")


def test_an_import_running_in_a_live_process_is_not_taken_over(
    db: Database, tmp_path: Path
) -> None:
    orders = orders_file(tmp_path, 2)
    started = core.start(db, source(orders))
    with db.write() as session:
        run = session.scalar(select(ImportRun).where(ImportRun.public_id == started.public_id))
        assert run is not None
        # The test runner's parent: a live process that is not this one.
        runner = {"host": socket.gethostname(), "pid": os.getppid()}
        run.parameters = {**run.parameters, "runner": runner}
    with pytest.raises(core.ImportRefused, match="is running in process"):
        core.start(db, source(orders))


class Listing:
    """A source in the shape the platform backfills take: pages of customers and whole returns,
    with an opaque cursor for a checkpoint."""

    name = "listing"

    def __init__(self, pages: list[Batch]) -> None:
        self.pages = pages

    def parameters(self) -> dict[str, Any]:
        return {"since": "2026-01-01"}

    def total(self) -> int:
        return len(self.pages)

    def batches(self, checkpoint: dict[str, Any]) -> Iterator[Batch]:
        yield from self.pages[int(checkpoint.get("page", 0)) :]


def test_other_sources_plug_into_the_same_core(db: Database, tmp_path: Path) -> None:
    run_all(db, source(orders_file(tmp_path, 1)))
    synced = ExternalReturn(
        source="loop",
        external_id="L-1",
        state=ReturnState.REQUESTED,
        updated_at=None,
        created_at=datetime(2026, 3, 10, tzinfo=UTC),
        order_name="#1000",
        customer_email="1000@example.com",
        currency="USD",
        items=(ExternalItem(sku="HAT", title="Title HAT", unit_price=999),),
    )
    pages = [
        Batch(
            checkpoint={"page": 1},
            customers=[
                ImportedCustomer("new@example.com", "New"),
                ImportedCustomer("1000@example.com"),
            ],
            read=2,
        ),
        Batch(checkpoint={"page": 2}, synced_returns=[synced], read=1),
    ]
    _, totals = run_all(db, Listing(pages))
    assert (totals.read, totals.created, totals.skipped) == (3, 2, 1)
    _, again = run_all(db, Listing(pages))
    assert (again.created, again.skipped) == (0, 3)
    assert count(db, Customer) == 2 and count(db, Return) == 1


# ---- files from strangers ----------------------------------------------------------------------


def raw_file(tmp_path: Path, content: bytes, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def csv_bytes(rows: list[dict[str, str]], header: list[str] = ORDER_HEADER) -> bytes:
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(_quote(row.get(h, "")) for h in header))
    return ("\r\n".join(lines) + "\r\n").encode()


def _quote(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def test_bom_crlf_and_quoted_newlines_are_read(db: Database, tmp_path: Path) -> None:
    content = b"\xef\xbb\xbf" + csv_bytes(
        [line("#1", title='Tee, "classic"\r\nwith a break'), line("#2")]
    )
    _, totals = run_all(db, source(raw_file(tmp_path, content)))
    assert (totals.created, totals.invalid) == (2, 0)
    with db.read() as session:
        assert session.scalar(select(OrderLine.title).where(OrderLine.sku == "TEE-M").limit(1)) in (
            'Tee, "classic"\r\nwith a break',
        )


def test_a_ten_megabyte_field_is_reported_and_the_rest_imported(
    db: Database, tmp_path: Path
) -> None:
    huge = "x" * (10 * 1024 * 1024)
    content = csv_bytes([line("#1"), line("#2", title=huge.replace("x", "y")), line("#3")])
    path = raw_file(tmp_path, content)
    problems = problems_of(source(path))
    assert len(problems) == 1 and problems[0][0] == 3
    assert f"longer than {MAX_LINE_BYTES // 1024} KiB" in problems[0][2]
    _, totals = run_all(db, source(path))
    assert (totals.created, totals.invalid) == (2, 1)


def test_a_quote_never_closed_is_reported(db: Database, tmp_path: Path) -> None:
    body = csv_bytes([line("#1")]) + b'#2,2026-03-01T14:30:00Z,USD,a@example.com,"never closed\n'
    body += b"more\n" * 40_000
    problems = problems_of(source(raw_file(tmp_path, body)))
    assert any("quote that is never closed" in message for _, _, message in problems)


def test_bad_utf8_is_reported_on_its_row(db: Database, tmp_path: Path) -> None:
    content = csv_bytes([line("#1"), line("#2", title="Caf\u00e9"), line("#3")])
    content = content.replace("Caf\u00e9".encode(), b"Caf\xe9")
    problems = problems_of(source(raw_file(tmp_path, content)))
    assert [(row, column) for row, column, _ in problems] == [(3, "")]
    assert "not UTF-8" in problems[0][2] and "CSV UTF-8" in problems[0][2]


def test_a_header_missing_a_column_refuses_the_file(tmp_path: Path) -> None:
    header = [h for h in ORDER_HEADER if h != "unit_price"]
    path = raw_file(tmp_path, csv_bytes([line("#1")], header))
    with pytest.raises(UnreadableFile, match="the header lacks unit_price"):
        source(path)


def test_a_duplicated_column_refuses_the_file(tmp_path: Path) -> None:
    path = raw_file(tmp_path, csv_bytes([line("#1")], [*ORDER_HEADER, "sku"]))
    with pytest.raises(UnreadableFile, match="column 'sku' appears twice"):
        source(path)


def test_extra_columns_are_ignored_and_named(db: Database, tmp_path: Path) -> None:
    path = raw_file(tmp_path, csv_bytes([line("#1")], [*ORDER_HEADER, "gift_note"]))
    src = source(path)
    assert src.orders.columns.ignored == ("gift_note",)
    _, totals = run_all(db, src)
    assert totals.created == 1


def test_a_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    content = csv_bytes([line("#1")]) + b"#2,2026-03-01T14:30:00Z,USD\r\n"
    problems = problems_of(source(raw_file(tmp_path, content)))
    assert problems[0][0] == 3 and "3 fields, but the header has 16" in problems[0][2]


def test_empty_and_header_only_files(db: Database, tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="empty"):
        source(raw_file(tmp_path, b""))
    _, totals = run_all(db, source(raw_file(tmp_path, csv_bytes([]), "header.csv")))
    assert totals.read == 0


@pytest.mark.parametrize(
    ("fields", "column", "says"),
    [
        ({"quantity": "-2"}, "quantity", "whole number from 1"),
        ({"quantity": "1.5"}, "quantity", "whole number from 1"),
        ({"unit_price": "1e9"}, "unit_price", "plain decimal"),
        ({"unit_price": "$12.00"}, "unit_price", "plain decimal"),
        ({"unit_price": "-1.00"}, "unit_price", "plain decimal"),
        ({"unit_price": "12.345"}, "unit_price", "more decimals than USD"),
        ({"currency": "JPY", "unit_price": "12.5"}, "unit_price", "more decimals than JPY"),
        ({"unit_price": "99999999999999"}, "unit_price", "plain decimal"),
        ({"placed_at": "3024-01-01T00:00:00Z"}, "placed_at", "in the future"),
        ({"placed_at": "1970-01-01"}, "placed_at", "before 2000"),
        ({"placed_at": "01/03/2026"}, "placed_at", "ISO 8601"),
        ({"delivered_at": "2026-02-01T00:00:00Z"}, "delivered_at", "before placed_at"),
        ({"title": '=HYPERLINK("http://x")'}, "title", "spreadsheet formula"),
        ({"customer_name": "@SUM(A1)"}, "customer_name", "spreadsheet formula"),
        ({"sku": "+cmd|' /C calc'!A0"}, "sku", "spreadsheet formula"),
        ({"customer_email": "not-an-email"}, "customer_email", "not a valid email"),
        ({"customer_email": ""}, "customer_email", "required"),
        ({"currency": "dollars"}, "currency", "ISO 4217"),
        ({"final_sale": "maybe"}, "final_sale", "true or false"),
        ({"sku": ""}, "sku", "required"),
        ({"title": "t" * 201}, "title", "at most 200"),
        ({"carrier": "", "tracking_number": "1Z"}, "carrier", "tracking_number is set"),
    ],
)
def test_bad_cells_name_their_row_and_column(
    tmp_path: Path, fields: dict[str, str], column: str, says: str
) -> None:
    path = write(tmp_path / "orders.csv", ORDER_HEADER, [line("#1"), line("#2", **fields)])
    problems = problems_of(source(path))
    assert [(row, col) for row, col, _ in problems] == [(3, column)]
    assert says in problems[0][2]


def test_negative_phone_like_values_are_not_formulas(tmp_path: Path) -> None:
    path = write(tmp_path / "orders.csv", ORDER_HEADER, [line("#1", variant="-10% off")])
    assert problems_of(source(path)) == []


# ---- the command -------------------------------------------------------------------------------


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RETURNHUB_DATABASE_URL", db.engine.url.render_as_string(False))
    monkeypatch.setenv("RETURNHUB_MODE", "demo")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_imports_reports_and_resumes(db: Database, tmp_path: Path, cli_env: None) -> None:
    runner = CliRunner()

    def said(result: Any) -> str:
        # Rich wraps long lines at the terminal's width.
        return " ".join(result.output.split())

    orders = write(
        tmp_path / "orders.csv", ORDER_HEADER, [line("#1"), line("#2", quantity="-1"), line("#3")]
    )
    dry = runner.invoke(app, ["import", "csv", str(orders), "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert "row 3, quantity" in said(dry) and "nothing was changed" in said(dry)
    assert count(db, Order) == 0
    report = tmp_path / "problems.csv"
    result = runner.invoke(app, ["import", "csv", str(orders), "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert "2 created" in said(result)
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], r["row"], r["column"]) for r in rows] == [("orders.csv", "3", "quantity")]
    assert count(db, Order) == 2
    refused = runner.invoke(app, ["import", "csv", str(orders), "--resume", "imp_unknown"])
    assert refused.exit_code == 2 and "there is no import imp_unknown" in said(refused)
    clean = write(tmp_path / "clean.csv", ORDER_HEADER, [line("#1"), line("#4")])
    again = runner.invoke(app, ["import", "csv", str(clean)])
    assert again.exit_code == 0, again.output
    assert "1 created" in said(again) and "1 skipped" in said(again)
    listed = runner.invoke(app, ["import", "list"])
    assert listed.exit_code == 0 and listed.output.count("succeeded") == 2


def test_cli_refuses_an_unreadable_file(tmp_path: Path, cli_env: None) -> None:
    result = CliRunner().invoke(app, ["import", "csv", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "no such file" in " ".join(result.output.split())
