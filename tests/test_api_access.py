from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from returnhub.api.app import create_app
from returnhub.services.keys import create_key
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from tests.conftest import PRODUCTION_SECRET_KEY, Clock
from tests.factories import create_order, create_return


def _key(db: Database, *scopes: str) -> dict[str, str]:
    with db.write() as session:
        _, raw = create_key(session, list(scopes), name=f"{'+'.join(scopes)} key")
    return {"Authorization": f"Bearer {raw}"}


def test_missing_key_is_401_with_hint(client: TestClient) -> None:
    response = client.get("/api/v1/returns", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "returnhub keys create" in response.json()["errors"][0]["message"]


def test_unknown_key_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/returns", headers={"Authorization": "Bearer rh_wrong"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"


def test_scopes(client: TestClient, db: Database, clock: Clock) -> None:
    order = create_order(client, clock.now)
    ret = create_return(client, order)
    helpdesk = _key(db, "helpdesk")
    warehouse = _key(db, "warehouse")
    agent = _key(db, "agent")

    assert client.get(f"/api/v1/returns/{ret['id']}", headers=helpdesk).status_code == 200
    assert (
        client.post(
            f"/api/v1/returns/{ret['id']}/notes", json={"body": "hi"}, headers=helpdesk
        ).status_code
        == 201
    )
    forbidden = client.post(f"/api/v1/returns/{ret['id']}/authorize", headers=helpdesk)
    assert forbidden.status_code == 403
    assert "agent" in forbidden.json()["errors"][0]["message"]
    assert client.get(f"/api/v1/returns/{ret['id']}", headers=warehouse).status_code == 403
    assert (
        client.post(f"/api/v1/returns/{ret['id']}/authorize", headers=warehouse).status_code == 403
    )
    assert client.post(f"/api/v1/returns/{ret['id']}/authorize", headers=agent).status_code == 200
    assert client.post(f"/api/v1/returns/{ret['id']}/receive", headers=warehouse).status_code == 200
    detail = client.get(f"/api/v1/returns/{ret['id']}", headers=agent).json()
    assert [t["actor"] for t in detail["timeline"]][-2:] == ["agent key", "warehouse key"]


def test_revoked_key_is_refused(client: TestClient, db: Database) -> None:
    from returnhub.services.keys import revoke_key

    with db.write() as session:
        key, raw = create_key(session, ["admin"])
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/allowlist", headers=headers).status_code == 200
    with db.write() as session:
        revoke_key(session, key.public_id)
    assert client.get("/api/v1/allowlist", headers=headers).status_code == 401


def test_keys_are_stored_hashed(db: Database) -> None:
    from sqlalchemy import select

    from returnhub.store.tables import ApiKey

    with db.write() as session:
        _, raw = create_key(session, ["agent"])
    with db.read() as session:
        row = session.scalars(select(ApiKey)).one()
        assert raw not in (row.key_hash, row.prefix)
        assert len(row.key_hash) == 64


def test_demo_key_only_in_demo_mode(db: Database, settings: Settings, clock: Clock) -> None:
    production = Settings(
        mode="production", secret_key=PRODUCTION_SECRET_KEY, database_url=settings.database_url
    )
    app = create_app(production, db, clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/api/v1/allowlist", headers={"Authorization": f"Bearer {DEMO_API_KEY}"}
        )
        assert response.status_code == 401


@pytest.mark.parametrize("scopes", [["root"], []])
def test_bad_scopes_refused(db: Database, scopes: list[str]) -> None:
    from returnhub.domain.errors import InvalidInput

    with db.write() as session, pytest.raises(InvalidInput):
        create_key(session, scopes)


def test_non_ascii_key_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/returns", headers={b"Authorization": "Bearer clé".encode()})
    assert response.status_code == 401
