from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from returnhub.store.db import Database
from returnhub.store.tables import DomainEvent
from tests.conftest import Clock
from tests.factories import create_order, create_return


def _return_body(order: dict[str, Any], **item: Any) -> dict[str, Any]:
    base = {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"}
    base.update(item)
    return {"order_id": order["id"], "items": [base]}


def test_create_return(client: TestClient, clock: Clock, db: Database) -> None:
    order = create_order(client, clock.now)
    response = client.post(
        "/api/v1/returns",
        json={
            "order_id": order["id"],
            "items": [
                {
                    "order_line_id": order["lines"][0]["id"],
                    "quantity": 2,
                    "outcome": "exchange",
                    "reason": "Too small",
                    "parent_reason": "Fit",
                    "comment": "sleeves short",
                    "expected_condition": "new",
                }
            ],
            "exchange_items": [
                {
                    "sku": "JKT-RAIN-NVY-L",
                    "title": "Rain Jacket",
                    "variant": "Navy / L",
                    "quantity": 2,
                }
            ],
            "label": {"carrier": "USPS", "tracking_number": "9400100000000000000000"},
            "status_page_url": "https://returns.example.com/status/1",
        },
    )
    assert response.status_code == 201, response.text
    ret = response.json()
    assert ret["id"].startswith("ret_")
    assert ret["number"].startswith("RMA-")
    assert ret["state"] == "requested"
    assert ret["allowed_actions"] == ["authorize", "reject", "cancel", "expire", "flag"]
    assert ret["order_name"] == order["name"]
    assert ret["items"][0]["sku"] == "JKT-RAIN-NVY-M"
    assert ret["items"][0]["comment"] == "sleeves short"
    assert ret["exchange_items"][0]["sku"] == "JKT-RAIN-NVY-L"
    assert ret["refund"] == {
        "amount": 0,
        "currency": "USD",
        "method": "",
        "state": "none",
        "issued_at": None,
    }
    assert ret["label"] == {
        "carrier": "USPS",
        "tracking_number": "9400100000000000000000",
        "status": "",
    }
    assert [t["kind"] for t in ret["timeline"]] == ["created"]
    with db.read() as session:
        events = session.scalars(
            select(DomainEvent).where(DomainEvent.subject_id == ret["id"])
        ).all()
        assert [e.type for e in events] == ["return.created"]


def test_refund_amount_is_computed_in_minor_units(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    ret = client.post("/api/v1/returns", json=_return_body(order, quantity=2)).json()
    assert ret["refund"]["amount"] == 25800
    assert ret["refund"]["state"] == "pending"
    assert ret["refund"]["method"] == "original_payment"


def test_return_outside_window_is_refused_with_reasons(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now, delivered_days_ago=31)
    response = client.post("/api/v1/returns", json=_return_body(order))
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "items.0"
    assert error["code"] == "not_eligible"
    assert error["reasons"] == ["window_closed"]
    assert "30-day refund window" in error["message"]
    # The same line is still fine as an exchange (45 days).
    assert (
        client.post("/api/v1/returns", json=_return_body(order, outcome="exchange")).status_code
        == 201
    )


def test_final_sale_is_refused(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    body = _return_body(order, order_line_id=order["lines"][1]["id"])
    response = client.post("/api/v1/returns", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["reasons"] == ["final_sale"]


def test_allowlist_overrides_window_and_final_sale(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now, delivered_days_ago=90)
    body = {
        "order_id": order["id"],
        "items": [
            {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"},
            {"order_line_id": order["lines"][1]["id"], "quantity": 1, "outcome": "refund"},
        ],
    }
    assert client.post("/api/v1/returns", json=body).status_code == 422
    entry = client.post(
        "/api/v1/allowlist",
        json={"kind": "order", "value": order["name"], "reason": "VIP goodwill"},
    )
    assert entry.status_code == 201
    eligibility = client.get(f"/api/v1/orders/{order['id']}/eligibility").json()
    reason = eligibility["lines"][1]["outcomes"]["refund"]["reasons"][0]
    assert reason["code"] == "allowlisted"
    assert "VIP goodwill" in reason["message"]
    assert client.post("/api/v1/returns", json=body).status_code == 201


def test_email_allowlist_applies_to_all_the_customers_orders(
    client: TestClient, clock: Clock
) -> None:
    order = create_order(client, clock.now, delivered_days_ago=90)
    email = client.get(f"/api/v1/customers/{order['customer_id']}").json()["emails"][0]
    client.post("/api/v1/allowlist", json={"kind": "email", "value": email.upper()})
    assert client.post("/api/v1/returns", json=_return_body(order)).status_code == 201


def test_cannot_return_more_than_bought_across_returns(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    create_return(client, order, quantity=1)
    body = {
        "order_id": order["id"],
        "items": [
            {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"},
            {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "exchange"},
        ],
    }
    response = client.post("/api/v1/returns", json=body)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "items.1.quantity"
    assert error["code"] == "quantity_exceeds_returnable"
    assert error["returnable_quantity"] == 1


def test_cancelled_return_frees_its_quantity(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    ret = create_return(client, order, quantity=2)
    assert client.post(f"/api/v1/returns/{ret['id']}/cancel").status_code == 200
    create_return(client, order, quantity=2)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"quantity": 0}, "items.0.quantity"),
        ({"quantity": -1}, "items.0.quantity"),
        ({"quantity": "two"}, "items.0.quantity"),
        ({"outcome": "cash"}, "items.0.outcome"),
        ({"order_line_id": "lin_nope"}, "items.0.order_line_id"),
        ({"colour": "red"}, "items.0.colour"),
    ],
)
def test_bad_items_name_the_field(
    client: TestClient, clock: Clock, item: dict[str, Any], field: str
) -> None:
    order = create_order(client, clock.now)
    response = client.post("/api/v1/returns", json=_return_body(order, **item))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_unknown_order_is_404(client: TestClient) -> None:
    response = client.post(
        "/api/v1/returns",
        json={
            "order_id": "ord_missing",
            "items": [{"order_line_id": "x", "quantity": 1, "outcome": "refund"}],
        },
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "order_id"


def test_duplicate_external_id_is_409(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    body = _return_body(order) | {"source_system": "loop", "external_id": "12345"}
    assert client.post("/api/v1/returns", json=body).status_code == 201
    response = client.post("/api/v1/returns", json=body)
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "external_id"


def test_main_path_to_closed(client: TestClient, clock: Clock, db: Database) -> None:
    order = create_order(client, clock.now)
    ret = create_return(client, order)
    path = ["authorize", "ship", "receive", "process", "close"]
    states = []
    for action in path:
        clock.advance(hours=1)
        body = {"label": {"status": "in_transit"}} if action == "ship" else None
        response = client.post(f"/api/v1/returns/{ret['id']}/{action}", json=body)
        assert response.status_code == 200, response.text
        states.append(response.json()["state"])
    assert states == ["authorized", "in_transit", "received", "processed", "closed"]
    final = client.get(f"/api/v1/returns/{ret['id']}").json()
    assert final["allowed_actions"] == []
    assert final["label"]["status"] == "in_transit"
    assert final["received_at"] == "2030-01-15T15:00:00Z"
    assert [(t["from_state"], t["to_state"]) for t in final["timeline"][1:]] == [
        ("requested", "authorized"),
        ("authorized", "in_transit"),
        ("in_transit", "received"),
        ("received", "processed"),
        ("processed", "closed"),
    ]
    with db.read() as session:
        types = session.scalars(
            select(DomainEvent.type)
            .where(DomainEvent.subject_id == ret["id"])
            .order_by(DomainEvent.id)
        ).all()
    assert types == ["return.created"] + ["return.state_changed"] * 5


def test_illegal_move_is_409_listing_allowed(client: TestClient, clock: Clock) -> None:
    ret = create_return(client, create_order(client, clock.now))
    response = client.post(f"/api/v1/returns/{ret['id']}/process")
    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "illegal_transition"
    assert error["state"] == "requested"
    assert error["allowed_actions"] == ["authorize", "reject", "cancel", "expire", "flag"]
    assert client.get(f"/api/v1/returns/{ret['id']}").json()["state"] == "requested"


def test_unknown_action_is_422(client: TestClient, clock: Clock) -> None:
    ret = create_return(client, create_order(client, clock.now))
    response = client.post(f"/api/v1/returns/{ret['id']}/teleport")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.action"


def test_flag_review_and_reject(client: TestClient, clock: Clock) -> None:
    ret = create_return(client, create_order(client, clock.now))
    for action in ["authorize", "receive", "flag", "reopen", "flag", "reject", "close"]:
        response = client.post(
            f"/api/v1/returns/{ret['id']}/{action}", json={"message": f"{action} it"}
        )
        assert response.status_code == 200, (action, response.text)
    body = client.get(f"/api/v1/returns/{ret['id']}").json()
    assert body["state"] == "closed"
    assert body["refund"]["state"] == "void"
    assert body["timeline"][-1]["message"] == "close it"


def test_refund_is_recorded_after_receipt(client: TestClient, clock: Clock) -> None:
    ret = create_return(client, create_order(client, clock.now))
    early = client.post(f"/api/v1/returns/{ret['id']}/refund")
    assert early.status_code == 409
    assert early.json()["errors"][0]["code"] == "refund_too_early"
    client.post(f"/api/v1/returns/{ret['id']}/authorize")
    client.post(f"/api/v1/returns/{ret['id']}/receive")
    response = client.post(
        f"/api/v1/returns/{ret['id']}/refund", json={"method": "original_payment"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["refund"] == {
        "amount": 12900,
        "currency": "USD",
        "method": "original_payment",
        "state": "issued",
        "issued_at": "2030-01-15T12:00:00Z",
    }
    again = client.post(f"/api/v1/returns/{ret['id']}/refund")
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "refund_not_pending"


def test_notes(client: TestClient, clock: Clock) -> None:
    ret = create_return(client, create_order(client, clock.now))
    response = client.post(
        f"/api/v1/returns/{ret['id']}/notes", json={"body": "Called the customer"}
    )
    assert response.status_code == 201
    note = response.json()
    assert note["id"].startswith("not_")
    assert note["author"] == "demo"
    detail = client.get(f"/api/v1/returns/{ret['id']}").json()
    assert [n["body"] for n in detail["notes"]] == ["Called the customer"]
    assert detail["timeline"][-1]["kind"] == "note"
    assert client.post(f"/api/v1/returns/{ret['id']}/notes", json={"body": "  "}).status_code == 422


def test_list_and_filter_returns(client: TestClient, clock: Clock) -> None:
    order_a = create_order(client, clock.now)
    order_b = create_order(client, clock.now)
    a = create_return(client, order_a)
    b = create_return(client, order_b)
    client.post(f"/api/v1/returns/{b['id']}/authorize")

    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/returns", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    assert ids() == [b["id"], a["id"]]
    assert ids(state="authorized") == [b["id"]]
    assert ids(order_id=order_a["id"]) == [a["id"]]
    assert ids(customer_id=order_b["customer_id"]) == [b["id"]]
    customer_returns = client.get(f"/api/v1/customers/{order_a['customer_id']}/returns").json()
    assert [r["id"] for r in customer_returns["data"]] == [a["id"]]
    bad_state = client.get("/api/v1/returns", params={"state": "lost"})
    assert bad_state.status_code == 422
    assert bad_state.json()["errors"][0]["field"] == "query.state"
    assert client.get("/api/v1/returns", params={"customer_id": "cus_nope"}).status_code == 404
