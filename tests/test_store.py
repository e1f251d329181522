"""Store contract tests: the same on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from returnhub.domain.errors import InvalidInput
from returnhub.domain.policy import Policy
from returnhub.services import customers, orders, returns
from returnhub.services.commands import CustomerCreate, OrderCreate, ReturnCreate
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import downgrade, upgrade
from returnhub.store.tables import Base, Customer, DomainEvent, Return, TimelineEntry
from tests.conftest import ENGINES, database_url

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(params=ENGINES)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    database = Database.from_settings(
        Settings(database_url=database_url(request.param, request, tmp_path))
    )
    request.addfinalizer(database.dispose)
    return database


def _schema(db: Database) -> dict[str, object]:
    inspector = inspect(db.engine)
    out: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            # Sorted: ALTER TABLE appends columns, so order differs and means nothing.
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return out


def test_migrated_schema_equals_fresh_schema(
    request: pytest.FixtureRequest, fresh_db: Database, tmp_path: Path
) -> None:
    upgrade(fresh_db.engine)
    with fresh_db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    engine_name = fresh_db.dialect if fresh_db.dialect == "sqlite" else "postgresql"
    other = Database.from_settings(
        Settings(database_url=database_url(engine_name, request, tmp_path / "other"))
    )
    Base.metadata.create_all(other.engine)
    try:
        assert _schema(other) == _schema(fresh_db)
    finally:
        other.dispose()


def test_downgrade_then_upgrade(fresh_db: Database) -> None:
    upgrade(fresh_db.engine)
    downgrade(fresh_db.engine, "base")
    assert [t for t in inspect(fresh_db.engine).get_table_names() if t != "alembic_version"] == []
    upgrade(fresh_db.engine)
    assert "returns" in inspect(fresh_db.engine).get_table_names()


def test_sqlite_is_tuned(tmp_path: Path) -> None:
    database = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path}/t.db"))
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    database.dispose()


def test_sqlite_writes_begin_immediate(tmp_path: Path) -> None:
    """A write transaction holds the write lock from its first statement, even a read."""
    database = Database.from_settings(
        Settings(database_url=f"sqlite:///{tmp_path}/t.db", sqlite_busy_timeout_ms=100)
    )
    upgrade(database.engine)
    with database.write() as session:
        session.execute(select(func.count()).select_from(Customer)).scalar()
        # A second writer cannot start while the first holds the RESERVED lock.
        other = Database.from_settings(
            Settings(database_url=f"sqlite:///{tmp_path}/t.db", sqlite_busy_timeout_ms=100)
        )
        with pytest.raises(Exception, match="locked"), other.write() as s2:
            s2.execute(text("SELECT 1"))
        # Readers are never blocked (WAL).
        with other.read() as reader:
            assert reader.scalar(select(func.count()).select_from(Customer)) == 0
        other.dispose()
    database.dispose()


def test_a_writer_waits_for_another_process_write_lock_and_gets_it(tmp_path: Path) -> None:
    """Two engines stand for two processes (each process queues its own threads first). The
    second waits, trying again every half millisecond rather than in SQLite's growing sleeps,
    takes the lock once the first commits, and leaves its connection's busy timeout as set."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", sqlite_busy_timeout_ms=5000)
    first, second = Database.from_settings(settings), Database.from_settings(settings)
    upgrade(first.engine)
    holding, waited = threading.Event(), threading.Event()

    def hold() -> None:
        with first.write() as session:
            session.execute(text("SELECT 1"))
            holding.set()
            waited.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    timer = threading.Timer(0.2, waited.set)
    timer.start()
    with second.write() as session:
        timeout = session.execute(text("PRAGMA busy_timeout")).scalar()  # begins: waits here
        assert waited.is_set()  # it could only begin once the first had let go
        assert timeout == 5000
    holder.join(10)
    first.dispose()
    second.dispose()


def test_rolled_back_change_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        customers.create_customer(session, CustomerCreate(name="Ghost", emails=["g@example.com"]))
        raise RuntimeError("crash after the write, before commit")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
        assert session.scalar(select(func.count()).select_from(DomainEvent)) == 0


def _order(db: Database, quantity: int = 1) -> str:
    with db.write() as session:
        order = orders.create_order(
            session,
            OrderCreate.model_validate(
                {
                    "name": "#5001",
                    "customer": {"name": "Lee", "emails": ["lee@example.com"]},
                    "placed_at": NOW - timedelta(days=5),
                    "delivered_at": NOW - timedelta(days=2),
                    "currency": "usd",
                    "lines": [
                        {"sku": "S", "title": "Sock", "quantity": quantity, "unit_price": 900}
                    ],
                }
            ),
        )
        return order.public_id


def _return_body(db: Database, order_id: str) -> ReturnCreate:
    with db.read() as session:
        line = orders.get_order(session, order_id).lines[0].public_id
    return ReturnCreate.model_validate(
        {
            "order_id": order_id,
            "items": [{"order_line_id": line, "quantity": 1, "outcome": "refund"}],
        }
    )


def test_return_timeline_and_event_commit_together(db: Database) -> None:
    order_id = _order(db)
    with db.write() as session:
        ret = returns.create_return(session, _return_body(db, order_id), Policy.default(), NOW, "t")
        ret_id = ret.public_id
    with db.read() as session:
        stored = session.scalars(select(Return)).one()
        assert stored.currency == "USD"
        assert stored.created_at.tzinfo is not None
        assert session.scalar(select(func.count()).select_from(TimelineEntry)) == 1
        events = session.scalars(
            select(DomainEvent.type).where(DomainEvent.subject_id == ret_id)
        ).all()
        assert events == ["return.created"]


def test_concurrent_returns_cannot_oversell_a_line(db: Database) -> None:
    """Two writers race for the last unit: exactly one return is created."""
    order_id = _order(db, quantity=1)
    body = _return_body(db, order_id)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            with db.write() as session:
                returns.create_return(session, body, Policy.default(), NOW, "race")
            results.append("created")
        except InvalidInput:
            results.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["created", "refused", "refused", "refused"]


def test_datetimes_round_trip_as_utc(db: Database) -> None:
    order_id = _order(db)
    with db.write() as session:
        order = orders.get_order(session, order_id)
        order.delivered_at = datetime(2026, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    with db.read() as session:
        assert orders.get_order(session, order_id).delivered_at == datetime(
            2026, 1, 1, 14, 30, tzinfo=UTC
        )


def test_naive_datetimes_are_refused(db: Database) -> None:
    order_id = _order(db)
    with pytest.raises(Exception, match="naive datetime"), db.write() as session:
        orders.get_order(session, order_id).delivered_at = datetime(2026, 1, 1)
        session.flush()
