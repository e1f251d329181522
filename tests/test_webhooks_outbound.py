"""Our own webhooks: subscriptions, Standard Webhooks signatures, retries, health."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from standardwebhooks import Webhook
from werkzeug import Request, Response

from returnhub.api.app import create_app
from returnhub.delivery.worker import Worker
from returnhub.services import subscriptions
from returnhub.settings import Settings
from returnhub.store import sealed
from returnhub.store.db import Database
from returnhub.store.tables import OutboxJob, WebhookSubscription
from tests.conftest import AUTH, Clock
from tests.factories import create_order, create_return


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[tuple[TestClient, Worker]]:
    app = create_app(settings, db, clock, worker=False)
    worker = Worker(db, settings, clock=clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client, worker
    worker.close()


def subscribe(client: TestClient, url: str, *events: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/webhook-subscriptions", json={"url": url, "event_types": list(events)}
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def test_subscribers_get_signed_events_in_order(
    hub: tuple[TestClient, Worker], httpserver: HTTPServer, clock: Clock
) -> None:
    client, worker = hub
    sub = subscribe(client, httpserver.url_for("/hooks"), "return.created", "return.state_changed")
    assert sub["secret"].startswith("whsec_")
    received: list[tuple[dict[str, str], bytes]] = []

    def handler(request: Request) -> Response:
        received.append((dict(request.headers), request.get_data()))
        return Response("ok")

    httpserver.expect_request("/hooks", method="POST").respond_with_handler(handler)
    ret = create_return(client, create_order(client, clock.now))
    client.post(f"/api/v1/returns/{ret['id']}/authorize")
    client.post(f"/api/v1/returns/{ret['id']}/receive")
    worker.drain()
    types = [json.loads(body)["type"] for _, body in received]
    assert types == ["return.created", "return.state_changed", "return.state_changed"]
    verifier = Webhook(sub["secret"])
    for headers, body in received:
        verifier.verify(body, headers)  # raises if the signature is wrong
        assert headers["Idempotency-Key"].startswith("deliver:evt_")
    last = json.loads(received[-1][1])
    assert last["data"]["id"] == ret["id"]
    assert (last["data"]["from"], last["data"]["to"]) == ("authorized", "received")
    # Events the subscription did not ask for are not delivered.
    client.post(f"/api/v1/returns/{ret['id']}/notes", json={"body": "hello"})
    worker.drain()
    assert len(received) == 3


def test_server_errors_retry_and_client_errors_die(
    hub: tuple[TestClient, Worker], httpserver: HTTPServer, clock: Clock
) -> None:
    client, worker = hub
    subscribe(client, httpserver.url_for("/flaky"), "customer.created")
    subscribe(client, httpserver.url_for("/gone"), "customer.created")
    httpserver.expect_request("/flaky").respond_with_data("busy", status=503)
    httpserver.expect_request("/gone").respond_with_data("no such hook", status=410)
    client.post("/api/v1/customers", json={"name": "Ada"})
    worker.drain()
    jobs = {j["payload"]["subscription_id"]: j for j in client.get("/api/v1/outbox").json()["data"]}
    statuses = sorted((j["status"], j["error_class"]) for j in jobs.values())
    assert statuses == [("dead", "client_error"), ("pending", "server_error")]
    httpserver.clear()
    httpserver.expect_request("/flaky").respond_with_data("ok")
    clock.advance(minutes=1)
    worker.drain()
    after = sorted(j["status"] for j in client.get("/api/v1/outbox").json()["data"])
    assert after == ["dead", "succeeded"]
    health = client.get("/api/v1/connectors/health").json()["data"]
    assert [(h["connector"], h["healthy"], h["successes"], h["failures"]) for h in health] == [
        ("webhooks", True, 1, 2)
    ]


def test_unauthorized_receiver_marks_webhooks_unhealthy(
    hub: tuple[TestClient, Worker], httpserver: HTTPServer
) -> None:
    client, worker = hub
    subscribe(client, httpserver.url_for("/locked"), "*")
    httpserver.expect_request("/locked").respond_with_data("denied", status=401)
    client.post("/api/v1/customers", json={"name": "Ada"})
    worker.drain()
    health = client.get("/api/v1/connectors/health").json()["data"][0]
    assert health["healthy"] is False
    assert health["last_error"].startswith("configuration: 401")
    dead = client.get("/api/v1/outbox", params={"status": "dead"}).json()["data"]
    assert [j["error_class"] for j in dead] == ["configuration"]


def test_unreachable_receiver_retries(hub: tuple[TestClient, Worker]) -> None:
    client, worker = hub
    subscribe(client, "http://127.0.0.1:9/nothing-listens-here", "customer.created")
    client.post("/api/v1/customers", json={"name": "Ada"})
    worker.drain()
    [job] = client.get("/api/v1/outbox").json()["data"]
    assert (job["status"], job["error_class"], job["attempts"]) == ("pending", "unreachable", 1)


def test_subscription_crud_and_validation(hub: tuple[TestClient, Worker]) -> None:
    client, _ = hub
    sub = subscribe(client, "https://merchant.example.com/hooks", "return.created")
    listed = client.get("/api/v1/webhook-subscriptions").json()["data"]
    assert [(s["id"], s["secret"]) for s in listed] == [(sub["id"], None)]
    bad = client.post(
        "/api/v1/webhook-subscriptions",
        json={"url": "ftp://x", "event_types": ["return.teleported"]},
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["url", "event_types"]
    assert client.delete(f"/api/v1/webhook-subscriptions/{sub['id']}").status_code == 204
    assert client.delete(f"/api/v1/webhook-subscriptions/{sub['id']}").status_code == 404


def test_operations_need_admin(hub: tuple[TestClient, Worker], db: Database) -> None:
    from returnhub.services.keys import create_key

    client, _ = hub
    with db.write() as session:
        _, raw = create_key(session, ["agent"])
    response = client.get("/api/v1/outbox", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403


def test_outbox_metrics(hub: tuple[TestClient, Worker]) -> None:
    client, _ = hub
    subscribe(client, "http://127.0.0.1:9/x", "customer.created")
    client.post("/api/v1/customers", json={"name": "Ada"})
    text = client.get("/metrics").text
    assert 'returnhub_outbox_jobs{status="pending"} 1.0' in text
    assert "returnhub_outbox_oldest_pending_seconds" in text


def test_the_signing_secret_is_sealed_at_rest(
    hub: tuple[TestClient, Worker], httpserver: HTTPServer, db: Database, settings: Settings
) -> None:
    client, _ = hub
    sub = subscribe(client, httpserver.url_for("/hooks"), "customer.created")
    with db.read() as session:
        stored = session.scalars(
            select(WebhookSubscription.secret).where(WebhookSubscription.public_id == sub["id"])
        ).one()
    assert stored.startswith("sealed:v1:")
    assert sub["secret"] not in stored and sub["secret"][6:] not in stored
    assert sealed.unseal(settings, stored) == sub["secret"]
    # Sealed for this purpose and this key only: altered or foreign values do not open.
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-key-" * 3)})
    with pytest.raises(sealed.SealedWithAnotherKey):
        sealed.unseal(other, stored)
    with pytest.raises(sealed.SealedWithAnotherKey):
        sealed.unseal(settings, stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB"))


def test_a_secret_stored_before_sealing_still_signs_and_migrate_seals_it(
    hub: tuple[TestClient, Worker], httpserver: HTTPServer, db: Database, settings: Settings
) -> None:
    client, worker = hub
    sub = subscribe(client, httpserver.url_for("/hooks"), "customer.created")
    legacy = "whsec_" + "A" * 43 + "="
    with db.write() as session:
        row = session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.public_id == sub["id"])
        ).one()
        row.secret = legacy  # as an older version stored it
    received: list[tuple[dict[str, str], bytes]] = []

    def handler(request: Request) -> Response:
        received.append((dict(request.headers), request.get_data()))
        return Response("ok")

    httpserver.expect_request("/hooks", method="POST").respond_with_handler(handler)
    client.post("/api/v1/customers", json={"name": "Grace Hopper", "emails": ["g@example.com"]})
    worker.drain()
    [(headers, body)] = received
    Webhook(legacy).verify(body, headers)
    with db.write() as session:
        assert subscriptions.seal_plain_secrets(session, settings) == 1
    with db.write() as session:
        assert subscriptions.seal_plain_secrets(session, settings) == 0
        stored = session.scalars(select(WebhookSubscription.secret)).one()
    assert sealed.is_sealed(stored) and sealed.unseal(settings, stored) == legacy


def test_a_secret_sealed_under_another_key_parks_the_delivery_with_what_to_do(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer
) -> None:
    app = create_app(settings, db, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        subscribe(client, httpserver.url_for("/hooks"), "customer.created")
        client.post("/api/v1/customers", json={"name": "Ada", "emails": ["ada@example.com"]})
    rotated = settings.model_copy(update={"secret_key": SecretStr("rotated-secret-key-" * 3)})
    rotated_db = Database.from_settings(rotated)
    worker = Worker(rotated_db, rotated, clock=clock)
    try:
        worker.drain()
    finally:
        worker.close()
        rotated_db.dispose()
    with db.read() as session:
        job = session.scalars(select(OutboxJob).where(OutboxJob.kind == "webhook.deliver")).one()
    assert (job.status, job.error_class) == ("dead", "configuration")
    assert "another RETURNHUB_SECRET_KEY" in (job.last_error or "")
    assert "returnhub webhooks add" in (job.last_error or "")
