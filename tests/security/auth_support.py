"""What the sign-in, session and event-loop security tests share: an app built on the test
database with some settings changed, and signing in through the real form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from returnhub.api.app import create_app
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import Clock
from tests.test_web_agent import csrf_of, sign_in

__all__ = ["app_client", "csrf_of", "password_attempt", "sign_in"]


@contextmanager
def app_client(
    settings: Settings, db: Database, clock: Clock, database: Database | None = None, **changes: Any
) -> Iterator[TestClient]:
    """A client of an app on ``db``'s database (through ``database`` when given) with
    ``changes`` to the settings; it sends no API key."""
    changed = settings.model_copy(update=changes)
    app = create_app(changed, database or Database(db.engine, changed), clock, worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def password_attempt(client: TestClient, username: str, password: str) -> Any:
    form = client.get("/agent/login")
    return client.post(
        "/agent/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
        follow_redirects=False,
    )
