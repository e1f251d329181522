"""Finding 2: nothing slow runs on the event loop. A sign-in held in the middle of its password
hash, or a portal or workspace POST held where it waits for the database's write lock, must not
stop the server from answering /healthz meanwhile. The holds are events the test releases, so
the proof does not depend on how fast the machine is: on a blocked loop /healthz never answers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.web import passwords
from tests.conftest import AUTH, Clock
from tests.factories import create_order, create_return
from tests.security.auth_support import app_client, csrf_of, sign_in

HOLD_SECONDS = 20
PROBE_SECONDS = 5


class Hold:
    """Two events: ``entered`` when the request reaches the held work, ``release`` to let it on."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait_here(self) -> None:
        self.entered.set()
        self.release.wait(HOLD_SECONDS)


def answers_while_held(client: TestClient, hold: Hold, request: Callable[[], Any]) -> Any:
    """Run ``request`` until it reaches ``hold``, check that /healthz answers, then release it;
    returns ``request``'s response."""
    results: list[Any] = []
    health: list[int] = []
    held = threading.Thread(target=lambda: results.append(request()))
    probe = threading.Thread(target=lambda: health.append(client.get("/healthz").status_code))
    held.start()
    try:
        assert hold.entered.wait(HOLD_SECONDS), "the request never reached the held work"
        probe.start()
        probe.join(PROBE_SECONDS)
        assert health == [200], "/healthz did not answer: the held work blocks the event loop"
    finally:
        hold.release.set()
        held.join(HOLD_SECONDS)
        if probe.is_alive():
            probe.join(HOLD_SECONDS)  # answers once the loop is free again
    assert results, "the held request did not finish"
    return results[0]


def test_healthz_answers_while_a_sign_in_hashes(
    settings: Settings, db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = passwords.hash_password("correct horse", iterations=1000)
    hold = Hold()
    real = hashlib.pbkdf2_hmac

    def held_hash(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
        hold.wait_here()
        return real(name, password, salt, iterations)

    with app_client(settings, db, clock, agent_users=SecretStr(f"alice={stored}")) as client:
        csrf = csrf_of(client.get("/agent/login").text)
        monkeypatch.setattr(hashlib, "pbkdf2_hmac", held_hash)
        response = answers_while_held(
            client,
            hold,
            lambda: client.post(
                "/agent/login",
                data={"csrf": csrf, "username": "alice", "password": "correct horse"},
                follow_redirects=False,
            ),
        )
    assert response.status_code == 303


class HeldWrites(Database):
    """The app's database, whose write transactions wait for the test while ``holding`` (as
    they wait for SQLite's write lock while another process writes)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(db.engine, settings)
        self.holding: Hold | None = None

    @contextmanager
    def write(self) -> Iterator[Session]:
        if self.holding is not None:
            self.holding.wait_here()
        with super().write() as session:
            yield session


POSTS = ["portal", "note", "action", "exception", "unlink", "logout"]


@pytest.mark.parametrize("route", POSTS)
def test_healthz_answers_while_a_post_waits_for_the_write_lock(
    route: str, settings: Settings, db: Database, clock: Clock
) -> None:
    database = HeldWrites(db, settings)
    with app_client(settings, db, clock, database=database) as client:
        client.headers.update(AUTH)
        order = create_order(client, clock.now)
        ret = create_return(client, order)
        token = client.post(f"/api/v1/orders/{order['id']}/return-link", json={}).json()["token"]
        client.headers.pop("Authorization")
        csrf = sign_in(client)
        jacket = order["lines"][0]["id"]
        portal_form = {
            "csrf": csrf_of(client.get(f"/r/{token}").text),
            f"qty_{jacket}": "1",
            f"outcome_{jacket}": "store_credit",
        }
        posts: dict[str, tuple[str, dict[str, str]]] = {
            "portal": (f"/r/{token}", portal_form),
            "note": (f"/agent/returns/{ret['id']}/notes", {"csrf": csrf, "body": "called"}),
            "action": (f"/agent/returns/{ret['id']}/actions/flag", {"csrf": csrf}),
            "exception": (f"/agent/orders/{order['id']}/exception", {"csrf": csrf}),
            "unlink": (f"/agent/customers/{order['customer_id']}/unlink", {"csrf": csrf}),
            "logout": ("/agent/logout", {"csrf": csrf}),
        }
        path, form = posts[route]
        database.holding = hold = Hold()
        response = answers_while_held(
            client, hold, lambda: client.post(path, data=form, follow_redirects=False)
        )
        database.holding = None
    assert response.status_code == 303, response.text
