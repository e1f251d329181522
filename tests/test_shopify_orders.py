"""Shopify orders, fulfilments and customer profiles, continuously: signed POST /webhooks/shopify
→ inbox → worker → the ledger, from the example bodies in Shopify's webhook reference
(tests/fixtures/shopify/orders_*.json, fulfillments_*.json, customers_update.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from returnhub.api.app import create_app
from returnhub.connectors.webhook_sources import SOURCES
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import Customer, InboxEvent, Order
from tests.conftest import AUTH, TEST_NOW, Clock
from tests.factories import create_customer, create_order, post_hmac_signed
from tests.test_gladly_lookup import KEY as GLADLY_KEY
from tests.test_gladly_lookup import LOOKUP, signed_post
from tests.test_web_agent import sign_in

SECRET = "shopify-client-secret-0123456789abcdef"
FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
ORDER_GID = "gid://shopify/Order/820982911946154500"
_delivery = count(1)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def order_body(**changes: Any) -> dict[str, Any]:
    """Shopify's example order, not cancelled unless asked (the reference's example of every
    orders topic is one cancelled order)."""
    body = fixture("orders_create")
    body.update(cancelled_at=None, cancel_reason=None)
    body.update(changes)
    return body


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[tuple[TestClient, Worker]]:
    configured = settings.model_copy(
        update={
            "shopify_webhook_secret": SecretStr(SECRET),
            "gladly_signing_key": SecretStr(GLADLY_KEY),
            "base_url": "https://hub.example.com",
        }
    )
    app = create_app(configured, db, clock, worker=False)
    worker = Worker(db, configured, clock=clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client, worker
    worker.close()


def send(client: TestClient, topic: str, body: dict[str, Any] | bytes) -> Any:
    """POST one webhook signed as Shopify signs it; the response."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return post_hmac_signed(
        client,
        "/webhooks/shopify",
        raw,
        header="X-Shopify-Hmac-Sha256",
        secret=SECRET,
        headers={
            "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": f"delivery-{next(_delivery)}",
            "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
        },
    )


def deliver(hub: tuple[TestClient, Worker], topic: str, body: dict[str, Any] | bytes) -> InboxEvent:
    """One webhook through the worker; its inbox event afterwards."""
    client, worker = hub
    response = send(client, topic, body)
    assert response.status_code == 202, response.text
    worker.drain()
    with worker.db.read() as session:
        event = session.scalars(select(InboxEvent).order_by(InboxEvent.id.desc())).first()
    assert event is not None
    return event


def ledger_order(db: Database, gid: str = ORDER_GID) -> Order | None:
    with db.read() as session:
        return session.scalar(
            select(Order)
            .where(Order.source_system == "shopify", Order.external_id == gid)
            .options(
                selectinload(Order.lines),
                selectinload(Order.fulfillments),
                selectinload(Order.customer).selectinload(Customer.emails),
                selectinload(Order.customer).selectinload(Customer.phones),
            )
        )


def test_reference_order_lands_with_customer_lines_and_cancellation(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    event = deliver(hub, "orders/create", fixture("orders_create"))
    assert (event.status, event.detail) == ("applied", "created")
    order = ledger_order(db)
    assert order is not None
    assert (order.name, order.currency, order.shipping_zip) == ("#9999", "USD", "40003")
    assert order.placed_at == at("2021-12-31T19:00:00-05:00")
    assert order.source_updated_at == at("2021-12-31T19:00:00-05:00")
    # The reference's example is a cancelled order.
    assert order.cancelled_at == at("2021-12-31T19:00:00-05:00")
    # Two lines of one SKU stay two lines: they are told apart by their Shopify ids.
    assert [(x.sku, x.quantity, x.unit_price, x.external_id) for x in order.lines] == [
        ("IPOD2008PINK", 1, 19900, "gid://shopify/LineItem/866550311766439020"),
        ("IPOD2008PINK", 1, 19900, "gid://shopify/LineItem/141249953214522974"),
    ]
    assert order.customer.name == "John Smith"
    assert [e.email for e in order.customer.emails] == ["jon@example.com"]


def test_resend_and_older_update_change_nothing_and_update_before_create_creates(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    newer = order_body(updated_at="2022-01-02T10:00:00-05:00", shipping_address={"zip": "40004"})
    assert deliver(hub, "orders/updated", newer).detail == "created"
    # The create arrives late: older than what the ledger holds.
    late = deliver(hub, "orders/create", order_body())
    assert (late.status, late.detail.split(":")[0]) == ("applied", "stale")
    assert "older than the ledger's" in late.detail
    # The same update again (a resend under a new delivery id).
    assert deliver(hub, "orders/updated", newer).detail == "unchanged"
    order = ledger_order(db)
    assert order is not None
    assert order.shipping_zip == "40004"
    assert order.source_updated_at == at("2022-01-02T10:00:00-05:00")
    with db.read() as session:
        assert len(session.scalars(select(Order)).all()) == 1


def test_cancelled_order_is_marked_cancelled(hub: tuple[TestClient, Worker], db: Database) -> None:
    deliver(hub, "orders/create", order_body())
    order = ledger_order(db)
    assert order is not None and order.cancelled_at is None
    cancelled = fixture("orders_cancelled")
    cancelled["updated_at"] = "2022-01-03T09:00:00-05:00"
    cancelled["cancelled_at"] = "2022-01-03T09:00:00-05:00"
    assert deliver(hub, "orders/cancelled", cancelled).detail == "updated"
    order = ledger_order(db)
    assert order is not None
    assert order.cancelled_at == at("2022-01-03T09:00:00-05:00")


def test_fulfillment_create_then_delivered_update(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    unknown = deliver(hub, "fulfillments/create", fixture("fulfillments_create"))
    assert unknown.status == "ignored"
    assert "not in the ledger yet" in unknown.detail
    deliver(hub, "orders/create", order_body())
    assert deliver(hub, "fulfillments/create", fixture("fulfillments_create")).detail == "created"
    delivered = fixture("fulfillments_update")
    delivered.update(shipment_status="delivered", updated_at="2022-01-04T15:30:00-05:00")
    assert deliver(hub, "fulfillments/update", delivered).detail == "updated"
    # An older report of the same fulfilment (the create, resent) changes nothing.
    stale = deliver(hub, "fulfillments/create", fixture("fulfillments_create"))
    assert stale.detail.startswith("stale")
    order = ledger_order(db)
    assert order is not None
    [f] = order.fulfillments
    assert (f.carrier, f.tracking_number, f.status) == ("UPS", "1z827wk74630", "delivered")
    assert f.shipped_at == at("2021-12-31T19:00:00-05:00")
    assert f.delivered_at == order.delivered_at == at("2022-01-04T15:30:00-05:00")
    # An order update that still lists the fulfilment as in transit is older: kept delivered.
    embedded = deepcopy(fixture("fulfillments_create"))
    embedded.update(shipment_status="in_transit")
    deliver(
        hub,
        "orders/updated",
        order_body(updated_at="2022-01-02T00:00:00Z", fulfillments=[embedded]),
    )
    order = ledger_order(db)
    assert order is not None and order.fulfillments[0].status == "delivered"


def test_customer_update_follows_the_newer_profile(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, _ = hub
    unknown = deliver(hub, "customers/update", fixture("customers_update"))
    assert unknown.status == "ignored"
    assert "no ledger customer" in unknown.detail
    bob = create_customer(client, name="B. Biller", emails=["bob@biller.com"], phones=[])
    newer = fixture("customers_update")
    newer.update(phone="+16135550199")
    event = deliver(hub, "customers/update", newer)
    assert event.detail == f"updated {bob['id']}: name, phones"
    older = fixture("customers_update")
    older.update(first_name="Robert", updated_at="2021-12-30T00:00:00Z")
    assert deliver(hub, "customers/update", older).detail.startswith("stale")
    changed = fixture("customers_update")
    changed.update(email="Bobby@Biller.com", updated_at="2022-02-01T00:00:00Z")
    assert deliver(hub, "customers/update", changed).detail == f"updated {bob['id']}: emails"
    shown = client.get(f"/api/v1/customers/{bob['id']}").json()
    assert shown["name"] == "Bob Biller"
    assert shown["emails"] == ["bobby@biller.com", "bob@biller.com"]
    assert [p["number"] for p in shown["phones"]] == ["+16135550199"]


def test_customer_update_never_takes_another_customers_email(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, _ = hub
    bob = create_customer(client, name="Bob", emails=["bob@biller.com"], phones=[])
    other = create_customer(client, name="Someone", emails=["someone@example.com"], phones=[])
    # Found by email once, Bob is linked to the profile; then it claims Someone's email.
    deliver(hub, "customers/update", fixture("customers_update"))
    taken = fixture("customers_update")
    taken.update(email="someone@example.com", first_name="Bobby", updated_at="2022-02-01T00:00:00Z")
    event = deliver(hub, "customers/update", taken)
    assert event.status == "applied"
    assert f"not taken: it is customer {other['id']}'s" in event.detail
    assert client.get(f"/api/v1/customers/{bob['id']}").json()["emails"] == ["bob@biller.com"]
    assert client.get(f"/api/v1/customers/{other['id']}").json()["name"] == "Someone"


def test_order_name_of_another_customers_order_fails_saying_why(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, _ = hub
    theirs = create_order(client, TEST_NOW, name="#9999")
    event = deliver(hub, "orders/create", order_body())
    assert event.status == "failed"
    assert f"the ledger's order {theirs['id']} has that name already" in event.detail
    assert ledger_order(db) is None


def test_order_made_here_for_the_same_customer_is_taken_over(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, _ = hub
    jon = create_customer(client, name="Jon", emails=["jon@example.com"], phones=[])
    made_here = create_order(client, TEST_NOW, customer_id=jon["id"], name="#9999")
    event = deliver(hub, "orders/create", order_body())
    assert event.detail == f"updated: took over the ledger's order {made_here['id']} of that name"
    order = ledger_order(db)
    assert order is not None and order.public_id == made_here["id"]
    # Its own lines stay (returns may name them); Shopify's are added.
    assert [x.sku for x in order.lines] == [
        "JKT-RAIN-NVY-M",
        "TEE-BASIC-WHT-S",
        "IPOD2008PINK",
        "IPOD2008PINK",
    ]


def test_an_order_of_another_source_keeps_its_name(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    deliver(hub, "orders/create", order_body())
    other = order_body(id=820982911946154999)
    event = deliver(hub, "orders/create", other)
    assert event.status == "failed"
    assert f"is shopify order {ORDER_GID}" in event.detail


def _giant() -> dict[str, Any]:
    line = fixture("orders_create")["line_items"][0]
    return order_body(
        line_items=[{**line, "id": i, "admin_graphql_api_id": None} for i in range(501)]
    )


def _negative() -> dict[str, Any]:
    body = order_body()
    body["line_items"][0]["quantity"] = -2
    return body


def _future() -> dict[str, Any]:
    return order_body(updated_at=(TEST_NOW + timedelta(days=1)).isoformat())


def _without(field: str) -> dict[str, Any]:
    body = order_body()
    del body[field]
    return body


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (_giant(), "failed", "has 501 line_items; at most 500 are kept"),
        (_negative(), "failed", "line_items.0.quantity must be a whole number of at least 1"),
        (_future(), "failed", "ahead of this server's clock"),
        (_without("name"), "failed", "has no name"),
        (_without("updated_at"), "failed", "updated_at is missing"),
        (_without("id"), "failed", "id is not a Shopify id"),
        (order_body(email=None, contact_email=None, customer=None), "ignored", "no customer email"),
        (order_body(line_items="lots"), "failed", "has no line_items"),
        (b"[1, 2, 3]", "failed", ""),
    ],
    ids=[
        "giant",
        "negative",
        "future",
        "no-name",
        "no-stamp",
        "no-id",
        "guest",
        "bad-lines",
        "list",
    ],
)
def test_hostile_or_incomplete_orders_have_a_clear_outcome(
    hub: tuple[TestClient, Worker], db: Database, body: Any, status: str, reason: str
) -> None:
    client, worker = hub
    response = send(client, "orders/create", body)
    assert response.status_code < 500
    if response.status_code != 202:
        return  # refused at the door (not a JSON object): never stored, never a 500
    worker.drain()
    [event] = client.get("/api/v1/inbox", params={"source": "shopify"}).json()["data"]
    assert event["status"] == status
    assert reason in event["detail"]
    assert ledger_order(db) is None


def test_order_events_are_never_applied_in_a_batch() -> None:
    # The batch apply reads without autoflush; an order's new customer, unflushed, would be
    # invisible to a customers/update beside it. Shopify's events are applied one by one.
    assert SOURCES["shopify"].pullers


def test_workspace_and_gladly_show_the_synced_order(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, _ = hub
    deliver(hub, "orders/create", order_body())
    order = ledger_order(db)
    assert order is not None
    response = signed_post(
        client,
        LOOKUP,
        {
            "lookupLevel": "DETAILED",
            "query": {
                "emails": ["jon@example.com"],
                "externalCustomerId": order.customer.public_id,
            },
            "uniqueMatchRequired": True,
        },
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert [t["orderNumber"] for t in result["transactions"]] == ["9999"]
    sign_in(client)
    page = client.get(f"/agent/customers/{order.customer.public_id}")
    assert page.status_code == 200 and "#9999" in page.text
