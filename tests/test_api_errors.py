from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from returnhub.services import customer_lookup
from returnhub.store.db import Database


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/api/v1/customers", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "malformed_json"
    assert "not valid JSON" in error["message"]


def test_wrong_type_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/customers", json={"name": ["a"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_body_must_be_an_object(client: TestClient) -> None:
    response = client.post("/api/v1/customers", json=[1, 2])
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "model_attributes_type"


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"field": "", "code": "not_found", "message": "Not Found"}]
    }


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.delete("/api/v1/customers")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    client.get("/api/v1/customers/cus_missing")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'returnhub_http_requests_total{method="GET",route="/api/v1/customers/{customer_id}",'
        'status="404"} 1.0' in metrics.text
    )


def test_readyz_reports_unreachable_database(tmp_path: object) -> None:
    from returnhub.api.app import create_app
    from returnhub.settings import Settings

    app = create_app(
        Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "database_unreachable"


def test_openapi_is_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/returns/{return_id}/{action}" in schema["paths"]
    assert client.get("/docs").status_code == 200


DETAILED = {
    "lookupLevel": "DETAILED",
    "uniqueMatchRequired": True,
    "query": {"externalCustomerId": "cus_missing"},
}


def test_plain_routes_are_counted_in_metrics(client: TestClient) -> None:
    assert client.post("/integrations/gladly/lookup", json=DETAILED).json() == {"results": []}
    metrics = client.get("/metrics").text
    assert (
        'returnhub_http_requests_total{method="POST",route="/integrations/gladly/lookup",'
        'status="200"} 1.0' in metrics
    )


def test_a_plain_route_with_its_database_down_answers_503(tmp_path: object) -> None:
    from returnhub.api.app import create_app
    from returnhub.settings import Settings

    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/integrations/gladly/lookup", json=DETAILED)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["code"] == "database_unavailable"


def test_a_failing_plain_route_answers_json_500_without_a_trace(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(customer_lookup, "profile", broken)
    response = client.post("/integrations/gladly/lookup", json=DETAILED)
    assert response.status_code == 500
    assert response.json()["errors"][0]["code"] == "internal_error"
    assert "secret" not in response.text
    metrics = client.get("/metrics").text
    assert 'route="/integrations/gladly/lookup",status="500"} 1.0' in metrics


def test_text_postgresql_cannot_store_is_422_never_500(client: TestClient, db: Database) -> None:
    """Refused at the door on both engines (SQLite would store it; PostgreSQL cannot)."""
    body = {"name": "Maya\x00 Lopez", "emails": [], "phones": [], "tags": []}
    response = client.post("/api/v1/customers", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == ("name", "invalid_text")
    assert "NUL" in error["message"]
