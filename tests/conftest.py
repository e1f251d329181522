"""Shared fixtures: a fresh database on each engine, an app client, a controllable clock.

The same store and API tests run on SQLite and on PostgreSQL. PostgreSQL comes from
RETURNHUB_TEST_DATABASE_URL (a server we may create databases on); without it those cases skip,
unless RETURNHUB_REQUIRE_POSTGRES=1 (CI), where a missing or unreachable server fails the run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from returnhub.api.app import create_app
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import Base

PG_URL = os.environ.get("RETURNHUB_TEST_DATABASE_URL", "")
REQUIRE_PG = os.environ.get("RETURNHUB_REQUIRE_POSTGRES") == "1"
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
# A RETURNHUB_SECRET_KEY production mode accepts (secrets.token_urlsafe(32), made once).
PRODUCTION_SECRET_KEY = "q7Vd0mJx3LrT9sKpWb2NfYc8HgUe5ZaXo1iQ4tMvR6E"


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError(
            "RETURNHUB_REQUIRE_POSTGRES=1 but RETURNHUB_TEST_DATABASE_URL is not set"
        )


def _admin_conninfo() -> str:
    url = make_url(PG_URL)
    return url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )


class PostgresServer:
    """Creates and drops scratch databases on the test server."""

    def create(self) -> str:
        name = f"rh_test_{secrets.token_hex(6)}"
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    if not PG_URL:
        pytest.skip("set RETURNHUB_TEST_DATABASE_URL to run the PostgreSQL cases")
    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return PostgresServer()


def database_url(engine: str, request: pytest.FixtureRequest, tmp: Path) -> str:
    """A URL for a brand-new empty database on ``engine``, dropped after the test scope."""
    if engine == "sqlite":
        return f"sqlite:///{tmp / 'returnhub.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create()
    request.addfinalizer(lambda: server.drop(url))
    return url


@pytest.fixture(scope="session", params=ENGINES)
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per engine for the session; tests empty it before use."""
    url = database_url(request.param, request, tmp_path_factory.mktemp(request.param))
    database = Database.from_settings(Settings(database_url=url))
    upgrade(database.engine)
    database.dispose()
    return url


def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def settings(migrated_url: str) -> Settings:
    # The tests' webhook receivers listen on loopback.
    return Settings(
        mode="demo",
        database_url=migrated_url,
        embedded_worker=False,
        webhook_allow_private_targets=True,
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    _empty(database)
    yield database
    database.dispose()


TEST_NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the tests move by hand; the app reads it for policy windows and timestamps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    # Ahead of the wall clock on purpose: rows stamped by the database's own clock (job due
    # times, event times) are then already "past" for the app, as they are in production.
    return Clock(TEST_NOW)


@pytest.fixture
def client(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, db, clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client
