"""ReturnLogic RMA webhooks end to end (EXPERIMENTAL: the body shape and event names are
unverified, so both shapes the hub accepts are covered)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from returnhub.api.app import create_app
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent, Return
from tests.conftest import AUTH, Clock
from tests.factories import post_hmac_signed

SECRET = "returnlogic-signing-secret-0123456789"

RMA: dict[str, Any] = {
    "rlRmaId": "RL-77001",
    "workflowStatus": "Requested",
    "orderName": "#3301",
    "customerEmail": "Sam.Rivera@Example.com",
    "customerName": "Sam Rivera",
    "currency": "usd",
    "timeline": {"createDate": "2030-01-08T10:00:00Z", "updateDate": "2030-01-08T10:00:00Z"},
    "totals": {"refund": {"total": "79.00"}},
    "shippingLabel": {"carrier": "UPS", "trackingNumber": "1Z999AA10123456784"},
    "rmaItems": [
        {
            "id": 1,
            "name": "Trail Shoe",
            "variantName": "Grey / 42",
            "quantity": 1,
            "sku": "SHO-TRL-GRY-42",
            "price": "79.00",
            "returnReasonDescription": "Too small",
            "returnReasonComment": "half a size",
        }
    ],
}


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[tuple[TestClient, Worker]]:
    configured = settings.model_copy(update={"returnlogic_webhook_secret": SecretStr(SECRET)})
    app = create_app(configured, db, clock, worker=False)
    worker = Worker(db, configured, clock=clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client, worker
    worker.close()


def post(client: TestClient, payload: dict[str, Any]) -> Any:
    return post_hmac_signed(
        client,
        "/webhooks/returnlogic",
        json.dumps(payload).encode(),
        header="X-ReturnLogic-Hmac-Sha256",
        secret=SECRET,
    )


def rma(status: str = "Requested", updated: str = "2030-01-08T10:00:00Z") -> dict[str, Any]:
    return {**RMA, "workflowStatus": status, "timeline": {**RMA["timeline"], "updateDate": updated}}


def ledger_return(db: Database) -> Return | None:
    with db.read() as session:
        return session.scalar(
            select(Return).where(
                Return.source_system == "returnlogic", Return.external_id == "RL-77001"
            )
        )


def test_top_level_rma_is_applied(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    assert post(client, {"event": "rma.created", **rma()}).status_code == 202
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None
    assert (ret.state, ret.refund_amount, ret.currency) == ("requested", 7900, "USD")
    assert (ret.label_carrier, ret.label_tracking_number) == ("UPS", "1Z999AA10123456784")
    detail = client.get(f"/api/v1/returns/{ret.public_id}").json()
    assert detail["order_name"] == "#3301"
    assert [(i["sku"], i["quantity"], i["reason"], i["comment"]) for i in detail["items"]] == [
        ("SHO-TRL-GRY-42", 1, "Too small", "half a size")
    ]
    customer = client.get(f"/api/v1/customers/{detail['customer_id']}").json()
    assert (customer["name"], customer["emails"]) == ("Sam Rivera", ["sam.rivera@example.com"])
    [event] = client.get("/api/v1/inbox").json()["data"]
    assert (event["event_type"], event["status"], event["detail"]) == (
        "rma.created",
        "applied",
        "created",
    )


def test_rma_nested_under_data_is_applied(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    post(client, {"event": "rma.created", **rma()})
    # Event names are folded, so the SCREAMING_SNAKE spelling is the same event.
    post(client, {"type": "RMA_UPDATED", "data": rma("Authorized", "2030-01-09T10:00:00Z")})
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None
    assert ret.state == "authorized"
    with db.read() as session:
        rows = session.execute(select(InboxEvent.event_type, InboxEvent.detail)).all()
    assert sorted((r.event_type, r.detail) for r in rows) == [
        ("rma.created", "created"),
        ("rma.updated", "updated"),
    ]


def test_updates_out_of_order_never_move_back(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    post(client, {"event": "rma.updated", "data": rma("Processed", "2030-01-12T10:00:00Z")})
    post(client, {"event": "rma.created", "data": rma()})
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None
    assert ret.state == "processed"


@pytest.mark.parametrize("deleted_first", [False, True], ids=["after", "before-create"])
def test_deleted_rma_is_cancelled(
    hub: tuple[TestClient, Worker], db: Database, deleted_first: bool
) -> None:
    client, worker = hub
    created = {"event": "rma.created", **rma("Authorized")}
    # Same update time as the create: a deletion need not bump it, and must still win.
    deleted = {"event": "rma.deleted", "data": rma("Authorized")}
    for payload in [deleted, created] if deleted_first else [created, deleted]:
        post(client, payload)
        worker.drain()
    ret = ledger_return(db)
    assert ret is not None
    assert ret.state == "cancelled"
    with db.read() as session:
        assert len(session.scalars(select(Return)).all()) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"event": "rma.updated", **rma("teleported")}, "unknown ReturnLogic workflowStatus"),
        (
            {"event": "rma.created", "data": {**RMA, "customerEmail": ""}},
            "RMA RL-77001 has no customerEmail",
        ),
        ({"event": "rma.created", "data": {"note": "no rma here"}}, "has no rlRmaId"),
        (
            {"event": "rma.created", **{**RMA, "rmaItems": [{"quantity": "lots"}]}},
            "cannot map the payload: ValueError",
        ),
    ],
    ids=["unknown-status", "no-email", "no-id", "bad-quantity"],
)
def test_unmappable_rma_is_dead_with_its_error(
    hub: tuple[TestClient, Worker], db: Database, payload: dict[str, Any], message: str
) -> None:
    client, worker = hub
    assert post(client, payload).status_code == 202
    worker.drain()
    [dead] = client.get("/api/v1/outbox", params={"status": "dead"}).json()["data"]
    assert dead["error_class"] == "mapping"
    assert message in dead["last_error"]
    [event] = client.get("/api/v1/inbox").json()["data"]
    assert event["status"] == "failed"
    assert ledger_return(db) is None


def test_event_without_a_known_name_is_kept_and_ignored(hub: tuple[TestClient, Worker]) -> None:
    client, worker = hub
    post(client, {"event": "label.printed", **rma()})
    worker.drain()
    [event] = client.get("/api/v1/inbox").json()["data"]
    assert event["status"] == "ignored"
    assert "rma.created, rma.deleted, rma.updated" in event["detail"]
