"""A database that goes away, or a disk that fills: the worker backs off quietly, and
readiness tells the load balancer the truth."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, text
from structlog.testing import capture_logs

from returnhub.api.app import create_app
from returnhub.delivery import outage
from returnhub.delivery import worker as worker_module
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.write_health import WriteHealth
from tests.conftest import AUTH, Clock
from tests.factories import customer_body

UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-directory/returnhub.db",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/returnhub",
}


class Switchable(Database):
    """The real database, or (while ``down``) a real engine that cannot connect."""

    def __init__(self, real: Database) -> None:
        super().__init__(real.engine, real.settings)
        settings = Settings(database_url=UNREACHABLE[real.dialect])
        self.unreachable = Database.from_settings(settings)
        self.down = True
        self.attempts = 0

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        self.attempts += 1
        if self.down:
            with self.unreachable.write_connection() as connection:
                yield connection
        else:
            with super().write_connection() as connection:
                yield connection


def _wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_worker_backs_off_and_logs_once_per_change_while_the_database_is_down(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loggers cache their configuration on first use (logs.py): fresh ones for these modules,
    # or an earlier test's logger would write past capture_logs.
    for module in (outage, worker_module):
        monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))
    flaky = Switchable(db)
    poll = 0.05
    worker = Worker(
        flaky,
        settings.model_copy(update={"worker_poll_seconds": poll}),
        concurrency=1,
    )
    with capture_logs() as logs:
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            time.sleep(1.6)
            flaky.down = False
            back = _wait_for(
                lambda: any(e["event"] == "database_available_again" for e in logs), 5.0
            )
        finally:
            worker.stop()
            thread.join(10)
            worker.close()
            flaky.unreachable.dispose()
    # Polling every 0.05 s would have tried 32 times; backing off from 0.05 s doubles the
    # wait each time: attempts at 0, 0.05, 0.15, 0.35, 0.75 and 1.55 s.
    assert back
    events = [e for e in logs if e["event"].startswith(("database_", "worker_claim"))]
    assert [(e["event"], e["log_level"]) for e in events] == [
        ("database_unavailable", "error"),
        ("database_available_again", "info"),
    ]
    assert not any("exc_info" in e for e in logs), "no traceback per attempt"
    assert events[0]["error"].startswith("OperationalError: ")
    # The worker's own count (a snapshot here could miss one attempt racing the switch).
    assert 3 <= events[1]["failed_attempts"] <= 8
    # A database that is down is not a storage failure: ready as soon as it answers again.
    assert flaky.unreachable.write_health.recent_failure() is None


class TickingClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, db, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


def _break_writes(db: Database) -> tuple[Any, str]:
    """Make every growing write fail while reads still work, as a full disk does; the
    connect hook to remove afterwards and the words the database says."""
    if db.dialect == "sqlite":
        raw = db.engine.raw_connection()
        try:
            # On the driver's connection: VACUUM cannot run in the transaction SQLAlchemy begins.
            driver: Any = raw.driver_connection
            driver.execute("VACUUM")  # no free pages left to fill
            pages = driver.execute("PRAGMA page_count").fetchone()[0]
        finally:
            raw.close()
        # No page beyond those the file has now: SQLite's own "database or disk is full".
        statement, words = f"PRAGMA max_page_count = {pages}", "database or disk is full"
    else:
        # A server whose volume went read-only (SQLSTATE 25006); a full disk is 53100, which
        # the same code path handles.
        statement, words = "SET default_transaction_read_only = on", "read-only transaction"

    def hook(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.execute(statement)
        if db.dialect == "postgresql":
            dbapi_connection.commit()  # keep the SET past the pool's rollback

    event.listen(db.engine, "connect", hook)
    db.engine.dispose()
    return hook, words


def test_readiness_fails_while_writes_fail_on_a_full_disk(hub: TestClient, db: Database) -> None:
    ticking = TickingClock()
    db.write_health = WriteHealth(window=30, clock=ticking)
    assert hub.get("/readyz").status_code == 200
    # Bad input is the caller's problem: it never takes the node out of rotation.
    assert hub.post("/api/v1/customers", json={"emails": ["nope"]}).status_code == 422
    assert hub.get("/readyz").status_code == 200

    hook, words = _break_writes(db)
    statuses = []
    for _ in range(200):
        statuses.append(hub.post("/api/v1/customers", json=customer_body()).status_code)
        if statuses[-1] != 201:
            break
    assert statuses[-1] == 503
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1  # reads still work

    ready = hub.get("/readyz")
    assert ready.status_code == 503
    error = ready.json()["errors"][0]
    assert error["code"] == "database_writes_failing"
    assert words in error["message"]

    # Space is freed; readiness returns once no write has failed for the window.
    event.remove(db.engine, "connect", hook)
    db.engine.dispose()
    ticking.now += 10
    assert hub.get("/readyz").status_code == 503
    ticking.now += 21
    assert hub.get("/readyz").status_code == 200
    assert hub.post("/api/v1/customers", json=customer_body()).status_code == 201
