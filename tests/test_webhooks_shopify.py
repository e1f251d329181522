"""Shopify returns webhooks end to end: signed POST → inbox → worker pulls the Return from a
strict fake GraphQL Admin API on loopback → the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from copy import deepcopy
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from returnhub.api.app import create_app
from returnhub.connectors import shopify
from returnhub.connectors.errors import MappingError
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent, OutboxJob, Return
from tests.conftest import AUTH, TEST_NOW, Clock
from tests.factories import post_hmac_signed

SECRET = "shopify-client-secret-0123456789abcdef"
TOKEN = "shpat_test_token"
GID = "gid://shopify/Return/9001"
GRAPHQL = "/admin/api/2025-07/graphql.json"
_delivery = count(1)

RETURN_NODE: dict[str, Any] = {
    "id": GID,
    "name": "#1047-R1",
    "status": "REQUESTED",
    "createdAt": "2030-01-10T09:00:00Z",
    "closedAt": None,
    "requestApprovedAt": None,
    "order": {
        "id": "gid://shopify/Order/5001",
        "name": "#1047",
        "email": "Ada.Lovelace@Example.com",
        "createdAt": "2030-01-02T08:00:00Z",
        "currencyCode": "USD",
        "customer": {
            "id": "gid://shopify/Customer/7",
            "email": "ada.lovelace@example.com",
            "displayName": "Ada Lovelace",
            "phone": "+14155550101",
        },
    },
    "returnLineItems": {
        "edges": [
            {
                "node": {
                    "id": "gid://shopify/ReturnLineItem/1",
                    "quantity": 2,
                    "returnReason": "SIZE_TOO_SMALL",
                    "returnReasonNote": "runs small",
                    "customerNote": None,
                    "fulfillmentLineItem": {
                        "lineItem": {
                            "id": "gid://shopify/LineItem/11",
                            "sku": "TEE-BASIC-WHT-S",
                            "title": "Basic Tee",
                            "variantTitle": "White / S",
                            "originalUnitPriceSet": {
                                "shopMoney": {"amount": "24.95", "currencyCode": "USD"}
                            },
                        }
                    },
                }
            },
            {
                "node": {
                    "id": "gid://shopify/ReturnLineItem/2",
                    "quantity": 1,
                    "returnReason": "UNKNOWN",
                    "returnReasonNote": "",
                    "customerNote": "zip broke",
                    "fulfillmentLineItem": {
                        "lineItem": {
                            "id": "gid://shopify/LineItem/12",
                            "sku": None,
                            "title": "Rain Jacket",
                            "variantTitle": None,
                            "originalUnitPriceSet": {
                                "shopMoney": {"amount": "120.0", "currencyCode": "USD"}
                            },
                        }
                    },
                }
            },
            # An UnverifiedReturnLineItem: the query's fragment selects nothing on it.
            {"node": {}},
        ]
    },
    "refunds": {"nodes": []},
}


def refund(amount: str, at: str) -> dict[str, Any]:
    return {
        "createdAt": at,
        "totalRefundedSet": {"shopMoney": {"amount": amount, "currencyCode": "USD"}},
    }


class FakeShopify:
    """The GraphQL Admin API for one shop: answers ``return(id:)`` with the stored state and
    refuses anything but the exact request returnhub must send."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.returns: dict[str, dict[str, Any]] = {}
        self.pulls: list[str] = []
        server.expect_request(
            GRAPHQL, method="POST", headers={"X-Shopify-Access-Token": TOKEN}
        ).respond_with_handler(self._answer)

    def set(self, status: str, **changes: Any) -> None:
        node = deepcopy(RETURN_NODE)
        node.update(status=status, **changes)
        self.returns[node["id"]] = node

    def _answer(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        if body.get("query") != shopify.RETURN or set(body.get("variables", {})) != {"id"}:
            return Response("unexpected GraphQL request", status=400)
        gid = body["variables"]["id"]
        self.pulls.append(gid)
        answer = {"data": {"return": self.returns.get(gid)}}
        return Response(json.dumps(answer), content_type="application/json")


@pytest.fixture
def fake(httpserver: HTTPServer) -> Iterator[FakeShopify]:
    yield FakeShopify(httpserver)
    httpserver.check_assertions()


def hub_for(settings: Settings, db: Database, clock: Clock) -> tuple[TestClient, Worker]:
    app = create_app(settings, db, clock, worker=False)
    return TestClient(app, headers=AUTH, raise_server_exceptions=False), Worker(
        db, settings, clock=clock
    )


@pytest.fixture
def unconfigured(settings: Settings) -> Settings:
    """Webhooks accepted, Admin API not configured."""
    return settings.model_copy(update={"shopify_webhook_secret": SecretStr(SECRET)})


@pytest.fixture
def connected(unconfigured: Settings, httpserver: HTTPServer) -> Settings:
    return unconfigured.model_copy(
        update={
            "shopify_access_token": SecretStr(TOKEN),
            "shopify_base_url": httpserver.url_for("/"),
            "outbound_timeout_seconds": 2.0,
        }
    )


@pytest.fixture
def hub(
    connected: Settings, db: Database, clock: Clock, fake: FakeShopify
) -> Iterator[tuple[TestClient, Worker]]:
    client, worker = hub_for(connected, db, clock)
    with client:
        yield client, worker
    worker.close()


def post(
    client: TestClient, topic: str, status: str = "OPEN", webhook_id: str | None = None
) -> Any:
    body = json.dumps({"id": 9001, "admin_graphql_api_id": GID, "status": status}).encode()
    return post_hmac_signed(
        client,
        "/webhooks/shopify",
        body,
        header="X-Shopify-Hmac-Sha256",
        secret=SECRET,
        headers={
            "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": webhook_id or f"delivery-{next(_delivery)}",
            "X-Shopify-Shop-Domain": "acme.myshopify.com",
        },
    )


def ledger_return(db: Database) -> Return | None:
    with db.read() as session:
        return session.scalar(
            select(Return).where(Return.source_system == "shopify", Return.external_id == GID)
        )


def only_job(db: Database) -> OutboxJob:
    with db.read() as session:
        return session.scalars(select(OutboxJob).where(OutboxJob.kind == "inbox.apply")).one()


def assert_parked(client: TestClient, worker: Worker, db: Database, *messages: str) -> OutboxJob:
    """One returns webhook, and its job parked as a configuration error that says what to fix."""
    post(client, "returns/approve")
    worker.drain()
    job = only_job(db)
    assert (job.status, job.error_class) == ("dead", "configuration")
    [event] = client.get("/api/v1/inbox").json()["data"]
    assert event["status"] == "failed"
    for message in messages:
        assert message in job.last_error
        assert message in event["detail"]
    [row] = client.get("/api/v1/connectors/health").json()["data"]
    assert (row["connector"], row["healthy"]) == ("shopify", False)
    assert ledger_return(db) is None
    return job


@pytest.mark.parametrize(
    ("topic", "status", "state", "refund"),
    [
        ("returns/request", "REQUESTED", "requested", ("pending", 2 * 2495 + 12000)),
        ("returns/approve", "OPEN", "authorized", ("pending", 2 * 2495 + 12000)),
        # Closed with no refund in Shopify: nothing was refunded (an exchange, or refused).
        ("returns/close", "CLOSED", "closed", ("none", 0)),
        ("returns/decline", "DECLINED", "rejected", ("void", 2 * 2495 + 12000)),
        ("returns/cancel", "CANCELED", "cancelled", ("void", 2 * 2495 + 12000)),
    ],
)
def test_each_status_lands_in_the_ledger(
    hub: tuple[TestClient, Worker],
    db: Database,
    fake: FakeShopify,
    topic: str,
    status: str,
    state: str,
    refund: tuple[str, int],
) -> None:
    client, worker = hub
    fake.set(status)
    assert post(client, topic, status).status_code == 202
    assert ledger_return(db) is None  # the pull runs off the request path
    worker.drain()
    assert fake.pulls == [GID]
    ret = ledger_return(db)
    assert ret is not None
    assert (ret.state, ret.currency) == (state, "USD")
    assert (ret.refund_state, ret.refund_amount, ret.refund_issued_at) == (*refund, None)
    detail = client.get(f"/api/v1/returns/{ret.public_id}").json()
    assert detail["order_name"] == "#1047"
    assert sorted(
        (i["sku"], i["quantity"], i["reason"], i["comment"], i["unit_price"])
        for i in detail["items"]
    ) == [
        ("TEE-BASIC-WHT-S", 2, "size_too_small", "runs small", 2495),
        ("shopify-gid://shopify/LineItem/12", 1, "", "zip broke", 12000),
    ]
    customer = client.get(f"/api/v1/customers/{detail['customer_id']}").json()
    assert customer["name"] == "Ada Lovelace"
    assert customer["emails"] == ["ada.lovelace@example.com"]
    assert [p["number"] for p in customer["phones"]] == ["+14155550101"]
    [event] = client.get("/api/v1/inbox", params={"source": "shopify"}).json()["data"]
    assert (event["event_type"], event["status"], event["detail"]) == (topic, "applied", "created")


def test_close_processed_before_request_still_ends_closed(
    hub: tuple[TestClient, Worker], db: Database, fake: FakeShopify, clock: Clock
) -> None:
    client, worker = hub
    fake.set("CLOSED", closedAt="2030-01-12T10:00:00Z")
    post(client, "returns/close", "CLOSED")
    worker.drain()
    clock.advance(seconds=1)
    # The request webhook arrives late; its body says REQUESTED, Shopify says CLOSED.
    post(client, "returns/request", "REQUESTED")
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None
    assert ret.state == "closed"
    assert fake.pulls == [GID, GID]
    with db.read() as session:
        details = session.scalars(select(InboxEvent.detail).order_by(InboxEvent.id)).all()
    assert details == ["created", "unchanged"]


def test_latest_state_wins_through_a_reopen(
    hub: tuple[TestClient, Worker], db: Database, fake: FakeShopify, clock: Clock
) -> None:
    client, worker = hub
    for topic, status, state in [
        ("returns/request", "REQUESTED", "requested"),
        ("returns/approve", "OPEN", "authorized"),
        ("returns/close", "CLOSED", "closed"),
        ("returns/reopen", "OPEN", "authorized"),
        ("returns/process", "CLOSED", "closed"),
    ]:
        fake.set(status)
        post(client, topic, status)
        worker.drain()
        clock.advance(seconds=1)
        ret = ledger_return(db)
        assert ret is not None
        assert ret.state == state, topic
    with db.read() as session:
        assert len(session.scalars(select(Return)).all()) == 1


def test_duplicate_delivery_has_one_effect(
    hub: tuple[TestClient, Worker], db: Database, fake: FakeShopify
) -> None:
    client, worker = hub
    fake.set("OPEN")
    first = post(client, "returns/approve", webhook_id="same-delivery")
    again = post(client, "returns/approve", webhook_id="same-delivery")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"status": "duplicate", "id": first.json()["id"]}
    worker.drain()
    assert fake.pulls == [GID]
    with db.read() as session:
        assert len(session.scalars(select(InboxEvent)).all()) == 1
        assert len(session.scalars(select(Return)).all()) == 1
    assert only_job(db).status == "succeeded"


def test_unconfigured_admin_api_parks_the_job_and_says_what_to_set(
    unconfigured: Settings, connected: Settings, db: Database, clock: Clock, fake: FakeShopify
) -> None:
    client, worker = hub_for(unconfigured, db, clock)
    with client:
        job = assert_parked(
            client, worker, db, "RETURNHUB_SHOPIFY_BASE_URL", "RETURNHUB_SHOPIFY_ACCESS_TOKEN"
        )
        assert fake.pulls == []
        assert client.post(f"/api/v1/outbox/{job.public_id}/replay").status_code == 200
    worker.close()
    # Once configured, the replayed job goes through.
    fake.set("OPEN")
    client, worker = hub_for(connected, db, clock)
    with client:
        worker.drain()
    worker.close()
    ret = ledger_return(db)
    assert ret is not None
    assert ret.state == "authorized"


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_parks_the_job_and_marks_shopify_unhealthy(
    httpserver: HTTPServer, status: int, db: Database, clock: Clock, connected: Settings
) -> None:
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_data(
        '{"errors":"[API] Invalid API key or access token"}', status=status
    )
    client, worker = hub_for(connected, db, clock)
    with client:
        assert_parked(
            client, worker, db, "Shopify refused our credentials", "RETURNHUB_SHOPIFY_ACCESS_TOKEN"
        )
    worker.close()
    assert ledger_return(db) is None


@pytest.mark.parametrize(("status", "error_class"), [(503, "server_error"), (429, "rate_limited")])
def test_busy_shopify_is_retried(
    hub: tuple[TestClient, Worker],
    httpserver: HTTPServer,
    db: Database,
    fake: FakeShopify,
    clock: Clock,
    status: int,
    error_class: str,
) -> None:
    client, worker = hub
    fake.set("OPEN")
    httpserver.expect_oneshot_request(GRAPHQL, method="POST").respond_with_data(
        "busy", status=status, headers={"Retry-After": "1"}
    )
    post(client, "returns/approve")
    worker.drain()
    job = only_job(db)
    assert (job.status, job.error_class, job.attempts) == ("pending", error_class, 1)
    assert ledger_return(db) is None
    clock.advance(minutes=2)  # past the retry, whatever the jitter
    worker.drain()
    assert only_job(db).status == "succeeded"
    ret = ledger_return(db)
    assert ret is not None
    assert ret.state == "authorized"


@pytest.mark.parametrize(
    ("answer", "error_class", "message"),
    [
        (
            {"errors": [{"message": "Field 'return' doesn't exist on type 'QueryRoot'"}]},
            "client_error",
            "Shopify GraphQL error: Field 'return' doesn't exist on type 'QueryRoot'",
        ),
        (
            {"data": {"return": None}},
            "client_error",
            f"Shopify has no return {GID}",
        ),
        (
            {
                "errors": [
                    {
                        "message": "Access denied for return field.",
                        "extensions": {"code": "ACCESS_DENIED"},
                    }
                ]
            },
            "configuration",
            "read_returns",
        ),
    ],
    ids=["graphql-error", "null-return", "missing-scope"],
)
def test_permanent_answers_are_dead_with_the_message(
    httpserver: HTTPServer,
    db: Database,
    clock: Clock,
    connected: Settings,
    answer: dict[str, Any],
    error_class: str,
    message: str,
) -> None:
    httpserver.expect_request(GRAPHQL, method="POST").respond_with_json(answer)
    client, worker = hub_for(connected, db, clock)
    with client:
        post(client, "returns/approve")
        worker.drain()
        [dead] = client.get("/api/v1/outbox", params={"status": "dead"}).json()["data"]
        assert dead["error_class"] == error_class
        assert message in dead["last_error"]
        [event] = client.get("/api/v1/inbox").json()["data"]
        assert event["status"] == "failed"
        assert message in event["detail"]
    worker.close()
    assert ledger_return(db) is None


def test_other_topics_are_kept_and_ignored_with_the_reason(
    hub: tuple[TestClient, Worker], fake: FakeShopify
) -> None:
    client, worker = hub
    # orders/create is mapped since issue 19 (tests/test_shopify_orders.py); products are not.
    assert post(client, "products/update").status_code == 202
    worker.drain()
    [event] = client.get("/api/v1/inbox").json()["data"]
    assert event["status"] == "ignored"
    assert "'products/update' is not mapped" in event["detail"]
    assert "returns/request" in event["detail"]
    assert fake.pulls == []


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("24.95", "USD", 2495), ("24.9", "EUR", 2490), ("1200", "JPY", 1200), ("1.234", "KWD", 1234)],
)
def test_prices_become_exact_minor_units(amount: str, currency: str, minor: int) -> None:
    node = deepcopy(RETURN_NODE)
    node["order"]["currencyCode"] = currency
    line = node["returnLineItems"]["edges"][0]["node"]["fulfillmentLineItem"]["lineItem"]
    line["originalUnitPriceSet"]["shopMoney"] = {"amount": amount, "currencyCode": currency}
    ext = shopify.map_return(node, TEST_NOW)
    assert (ext.currency, ext.items[0].unit_price, ext.updated_at) == (currency, minor, TEST_NOW)


@pytest.mark.parametrize("amount", ["24.955", "NaN", None])
def test_prices_that_are_not_exact_amounts_are_refused(amount: str | None) -> None:
    node = deepcopy(RETURN_NODE)
    line = node["returnLineItems"]["edges"][0]["node"]["fulfillmentLineItem"]["lineItem"]
    line["originalUnitPriceSet"]["shopMoney"]["amount"] = amount
    with pytest.raises(MappingError, match=r"returnLineItems\.0\.originalUnitPriceSet"):
        shopify.map_return(node, TEST_NOW)


def test_unknown_status_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="unknown Shopify return status 'LOST'"):
        shopify.map_return({**RETURN_NODE, "status": "LOST"}, TEST_NOW)


def test_a_refund_shopify_made_is_issued_with_its_amount_and_time(
    hub: tuple[TestClient, Worker], db: Database, fake: FakeShopify
) -> None:
    client, worker = hub
    fake.set("CLOSED", refunds={"nodes": [refund("49.90", "2030-01-12T10:00:00Z")]})
    post(client, "returns/close", "CLOSED")
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None and ret.refund_issued_at is not None
    assert (ret.state, ret.refund_state, ret.refund_amount) == ("closed", "issued", 4990)
    assert ret.refund_issued_at.isoformat() == "2030-01-12T10:00:00+00:00"


def test_a_refund_made_after_the_return_closed_is_picked_up(
    hub: tuple[TestClient, Worker], db: Database, fake: FakeShopify, clock: Clock
) -> None:
    """Shopify may refund a closed return later; the state stays CLOSED, the refund changes."""
    client, worker = hub
    fake.set("CLOSED")
    post(client, "returns/close", "CLOSED")
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None and (ret.refund_state, ret.refund_amount) == ("none", 0)
    partial = [refund("20.00", "2030-01-13T09:00:00Z"), refund("4.95", "2030-01-14T09:30:00Z")]
    fake.set("CLOSED", refunds={"nodes": partial})
    clock.advance(minutes=5)  # a later pull: the pull's time stamps what it saw
    post(client, "returns/update", "CLOSED")
    worker.drain()
    ret = ledger_return(db)
    assert ret is not None and ret.refund_issued_at is not None
    assert (ret.refund_state, ret.refund_amount) == ("issued", 2495)
    assert ret.refund_issued_at.isoformat() == "2030-01-14T09:30:00+00:00"


def test_a_refund_in_another_currency_is_refused_with_the_reason() -> None:
    node = deepcopy(RETURN_NODE)
    node["refunds"] = {"nodes": [refund("10.00", "2030-01-12T10:00:00Z")]}
    node["refunds"]["nodes"][0]["totalRefundedSet"]["shopMoney"]["currencyCode"] = "EUR"
    with pytest.raises(MappingError, match=r"refunds\.0 is in EUR, the return in USD"):
        shopify.map_return(node, TEST_NOW)
