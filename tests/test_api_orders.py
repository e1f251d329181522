from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.factories import create_customer, create_order, create_return, order_body


def test_create_order_for_a_customer(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    order = create_order(client, clock.now, customer["id"], name="#1086")
    assert order["id"].startswith("ord_")
    assert order["name"] == "#1086"
    assert order["customer_id"] == customer["id"]
    assert order["total"] == 2 * 12900 + 2500
    assert [line["sku"] for line in order["lines"]] == ["JKT-RAIN-NVY-M", "TEE-BASIC-WHT-S"]
    assert all(line["id"].startswith("lin_") for line in order["lines"])
    assert order["fulfillments"] == [
        {"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "shipped_at": None}
    ]
    assert client.get(f"/api/v1/orders/{order['id']}").json() == order


def test_import_order_creates_or_reuses_the_customer(client: TestClient, clock: Clock) -> None:
    body = order_body("", clock.now)
    del body["customer_id"]
    body["customer"] = {"name": "Imported Person", "emails": ["Imported@Example.com"]}
    first = client.post("/api/v1/orders", json=body)
    assert first.status_code == 201, first.text
    body2 = order_body("", clock.now)
    del body2["customer_id"]
    body2["customer"] = {"name": "Imported Person", "emails": ["imported@example.com"]}
    second = client.post("/api/v1/orders", json=body2)
    assert second.status_code == 201
    assert second.json()["customer_id"] == first.json()["customer_id"]
    found = client.get("/api/v1/customers", params={"email": "imported@example.com"}).json()
    assert [c["id"] for c in found["data"]] == [first.json()["customer_id"]]


def test_duplicate_order_name_is_409(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    response = client.post(
        "/api/v1/orders", json=order_body(order["customer_id"], clock.now, name=order["name"])
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"


def test_order_input_errors(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    body = order_body(customer["id"], clock.now)
    body["lines"][0]["quantity"] = 0
    body["lines"][1]["unit_price"] = -5
    body["currency"] = "dollars"
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == 422
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["currency", "lines.0.quantity", "lines.1.unit_price"]


def test_order_needs_exactly_one_customer_reference(client: TestClient, clock: Clock) -> None:
    body = order_body("cus_x", clock.now)
    body["customer"] = {"name": "Both"}
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == 422
    assert "exactly one of customer_id or customer" in response.json()["errors"][0]["message"]


def test_order_for_unknown_customer_is_404(client: TestClient, clock: Clock) -> None:
    response = client.post("/api/v1/orders", json=order_body("cus_0000000000000000", clock.now))
    assert response.status_code == 404


def test_list_customer_orders_paginates(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client)
    made = [create_order(client, clock.now, customer["id"])["id"] for _ in range(3)]
    first = client.get(f"/api/v1/customers/{customer['id']}/orders", params={"limit": 2}).json()
    assert [o["id"] for o in first["data"]] == [made[2], made[1]]
    second = client.get(
        f"/api/v1/customers/{customer['id']}/orders",
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert [o["id"] for o in second["data"]] == [made[0]]
    assert second["next_cursor"] is None


def test_bad_cursor_is_422(client: TestClient) -> None:
    customer = create_customer(client)
    response = client.get(
        f"/api/v1/customers/{customer['id']}/orders", params={"cursor": "garbage!"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "invalid_cursor"


def test_eligibility_explains_each_line(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now, delivered_days_ago=40)
    response = client.get(f"/api/v1/orders/{order['id']}/eligibility")
    assert response.status_code == 200
    body = response.json()
    jacket, tee = body["lines"]
    assert jacket["returnable_quantity"] == 2
    assert jacket["outcomes"]["refund"]["eligible"] is False
    assert [r["code"] for r in jacket["outcomes"]["refund"]["reasons"]] == ["window_closed"]
    assert jacket["outcomes"]["exchange"]["eligible"] is True
    assert jacket["outcomes"]["exchange"]["reasons"][0]["code"] == "within_window"
    assert jacket["outcomes"]["store_credit"]["eligible"] is True
    assert tee["eligible"] is False
    assert [r["code"] for r in tee["outcomes"]["exchange"]["reasons"]] == ["final_sale"]
    assert body["eligible"] is True


def test_eligibility_counts_earlier_returns(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    create_return(client, order, quantity=2)
    jacket = client.get(f"/api/v1/orders/{order['id']}/eligibility").json()["lines"][0]
    assert jacket["returned_quantity"] == 2
    assert jacket["returnable_quantity"] == 0
    assert jacket["eligible"] is False
    assert jacket["outcomes"]["refund"]["reasons"][-1]["code"] == "fully_returned"


def test_undelivered_order_is_not_returnable(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now, delivered_days_ago=None)
    jacket = client.get(f"/api/v1/orders/{order['id']}/eligibility").json()["lines"][0]
    assert jacket["outcomes"]["refund"]["reasons"][0]["code"] == "not_delivered"
    assert jacket["outcomes"]["refund"]["window_ends_at"] is None
