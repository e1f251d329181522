from __future__ import annotations

from fastapi.testclient import TestClient


def test_allowlist_create_list_delete(client: TestClient) -> None:
    created = client.post(
        "/api/v1/allowlist",
        json={"kind": "email", "value": " VIP@Example.com ", "reason": "long-time customer"},
    )
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["id"].startswith("alw_")
    assert entry["value"] == "vip@example.com"
    assert entry["created_by"] == "demo"
    assert entry["reason"] == "long-time customer"
    client.post("/api/v1/allowlist", json={"kind": "order", "value": "#1086"})

    listed = client.get("/api/v1/allowlist").json()["data"]
    assert [e["value"] for e in listed] == ["#1086", "vip@example.com"]
    only_email = client.get("/api/v1/allowlist", params={"kind": "email"}).json()["data"]
    assert [e["id"] for e in only_email] == [entry["id"]]

    assert client.delete(f"/api/v1/allowlist/{entry['id']}").status_code == 204
    assert client.delete(f"/api/v1/allowlist/{entry['id']}").status_code == 404
    assert [e["value"] for e in client.get("/api/v1/allowlist").json()["data"]] == ["#1086"]


def test_allowlist_duplicate_is_409(client: TestClient) -> None:
    first = client.post("/api/v1/allowlist", json={"kind": "order", "value": "#2000"}).json()
    response = client.post("/api/v1/allowlist", json={"kind": "order", "value": "#2000"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["allowlist_id"] == first["id"]


def test_allowlist_validates_kind_and_email(client: TestClient) -> None:
    bad_kind = client.post("/api/v1/allowlist", json={"kind": "sku", "value": "X"})
    assert bad_kind.status_code == 422
    assert bad_kind.json()["errors"][0]["field"] == "kind"
    bad_email = client.post("/api/v1/allowlist", json={"kind": "email", "value": "nope"})
    assert bad_email.status_code == 422
    assert bad_email.json()["errors"][0]["field"] == "value"
