"""What the sign-in, session and event-loop security tests share: an app built on the test
database with some settings changed, and signing in through the real form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from returnhub.api.app import create_app
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from tests.conftest import Clock


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


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, key: str = DEMO_API_KEY) -> str:
    """Signs in with an API key; returns the session's CSRF token."""
    form = client.get("/agent/login")
    response = client.post(
        "/agent/login", data={"csrf": csrf_of(form.text), "api_key": key}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/agent").text)


def password_attempt(client: TestClient, username: str, password: str) -> Any:
    form = client.get("/agent/login")
    return client.post(
        "/agent/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
        follow_redirects=False,
    )
