"""Finding 4: a session ends on the server. After sign-out, key revocation, a password change,
the idle lifetime or the absolute lifetime, the old cookie reads no page and posts no note."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from returnhub.services import keys
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import AgentSession
from returnhub.web import passwords
from tests.conftest import AUTH, Clock
from tests.factories import create_order, create_return
from tests.security.auth_support import app_client, password_attempt, sign_in


def notes_of(client: TestClient, return_id: str) -> list[str]:
    body = client.get(f"/api/v1/returns/{return_id}", headers=AUTH).json()
    return [note["body"] for note in body["notes"]]


def test_a_cookie_kept_after_sign_out_reads_and_writes_nothing(
    settings: Settings, db: Database, clock: Clock
) -> None:
    with app_client(settings, db, clock) as client:
        client.headers.update(AUTH)
        ret = create_return(client, create_order(client, clock.now))
        client.headers.pop("Authorization")
        csrf = sign_in(client)
        kept = client.cookies["rh_agent"]
        assert client.get(f"/agent/returns/{ret['id']}").status_code == 200
        out = client.post("/agent/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303
        # The attacker (or a shared computer) still has the cookie and replays it.
        client.cookies.set("rh_agent", kept)
        page = client.get(f"/agent/returns/{ret['id']}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/agent/login"
        note = client.post(
            f"/agent/returns/{ret['id']}/notes",
            data={"csrf": csrf, "body": "after sign-out"},
            follow_redirects=False,
        )
        assert note.status_code == 303 and note.headers["location"] == "/agent/login"
        assert "after sign-out" not in notes_of(client, ret["id"])
    with db.read() as session:
        ended = session.scalars(select(AgentSession.revoked_at)).all()
    assert ended == [clock.now]


def test_revoking_the_key_ends_its_sessions(settings: Settings, db: Database, clock: Clock) -> None:
    with db.write() as session:
        key, raw = keys.create_key(session, ["agent"], "Sam")
        key_id = key.public_id
    with app_client(settings, db, clock) as client:
        sign_in(client, raw)
        with db.write() as session:
            keys.revoke_key(session, key_id)
        assert client.get("/agent", follow_redirects=False).status_code == 303
    with db.read() as session:
        row = session.scalars(select(AgentSession).where(AgentSession.principal == key_id)).one()
        assert row.revoked_at is not None


def test_a_password_change_ends_the_sessions_made_with_the_old_one(
    settings: Settings, db: Database, clock: Clock
) -> None:
    old = passwords.hash_password("correct horse", iterations=1000)
    with app_client(settings, db, clock, agent_users=SecretStr(f"alice={old}")) as client:
        assert password_attempt(client, "alice", "correct horse").status_code == 303
        assert client.get("/agent").status_code == 200
        kept = client.cookies["rh_agent"]
    new = passwords.hash_password("new horse", iterations=1000)
    with app_client(settings, db, clock, agent_users=SecretStr(f"alice={new}")) as client:
        client.cookies.set("rh_agent", kept)
        assert client.get("/agent", follow_redirects=False).status_code == 303


def test_idle_and_absolute_lifetimes(settings: Settings, db: Database, clock: Clock) -> None:
    lifetimes: dict[str, Any] = {"agent_session_idle_minutes": 30, "agent_session_max_hours": 2}
    with app_client(settings, db, clock, **lifetimes) as client:
        sign_in(client)
        clock.advance(minutes=29)
        assert client.get("/agent").status_code == 200
        clock.advance(minutes=29)  # 29 minutes after the last request: still alive
        assert client.get("/agent").status_code == 200
        clock.advance(minutes=31)
        assert client.get("/agent", follow_redirects=False).status_code == 303

        sign_in(client)
        for _ in range(4):  # busy all along: a request every 25 minutes
            clock.advance(minutes=25)
            assert client.get("/agent").status_code == 200
        clock.advance(minutes=25)  # 2 h 5 min after sign-in
        assert client.get("/agent", follow_redirects=False).status_code == 303
