"""Property-based fuzzing of the whole REST API from its OpenAPI schema: no input gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from returnhub.api.app import create_app
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from tests.conftest import AUTH, TEST_NOW, Clock
from tests.factories import create_order, create_return


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    app_settings = Settings(mode="demo", database_url=f"sqlite:///{path}", embedded_worker=False)
    db = Database.from_settings(app_settings)
    upgrade(db.engine)
    clock = Clock(TEST_NOW)
    app = create_app(app_settings, db, clock)
    with TestClient(app, headers=AUTH) as client:
        # Some real rows, so that generated requests can also hit existing records' paths.
        create_return(client, create_order(client, clock.now))
    yield app
    db.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


def test_no_input_causes_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            response = case.call(headers=AUTH)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body.get("errors"), list), response.text
                assert body["errors"], response.text

        call()
