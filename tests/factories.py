"""Request bodies for tests: realistic defaults, override what the test is about."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from fastapi.testclient import TestClient

_seq = count(1)


def customer_body(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    body: dict[str, Any] = {
        "name": f"Maya Lopez {n}",
        "emails": [f"maya.lopez{n}@example.com"],
        "phones": [{"number": f"+1415555{n % 10000:04d}", "type": "MOBILE"}],
        "tags": [],
    }
    body.update(overrides)
    return body


def order_body(
    customer_id: str, now: datetime, *, delivered_days_ago: int | None = 10, **overrides: Any
) -> dict[str, Any]:
    n = next(_seq)
    placed = now - timedelta(days=(delivered_days_ago or 0) + 4)
    body: dict[str, Any] = {
        "name": f"#{1000 + n}",
        "customer_id": customer_id,
        "placed_at": placed.isoformat(),
        "delivered_at": (
            (now - timedelta(days=delivered_days_ago)).isoformat()
            if delivered_days_ago is not None
            else None
        ),
        "currency": "USD",
        "shipping_zip": "94107",
        "lines": [
            {
                "sku": "JKT-RAIN-NVY-M",
                "title": "Rain Jacket",
                "variant": "Navy / M",
                "quantity": 2,
                "unit_price": 12900,
            },
            {
                "sku": "TEE-BASIC-WHT-S",
                "title": "Basic Tee",
                "variant": "White / S",
                "quantity": 1,
                "unit_price": 2500,
                "final_sale": True,
            },
        ],
        "fulfillments": [{"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}],
    }
    body.update(overrides)
    return body


def create_customer(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/customers", json=customer_body(**overrides))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def create_order(
    client: TestClient, now: datetime, customer_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    if customer_id is None:
        customer_id = create_customer(client)["id"]
    response = client.post("/api/v1/orders", json=order_body(customer_id, now, **overrides))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def create_return(
    client: TestClient, order: dict[str, Any], quantity: int = 1, outcome: str = "refund"
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/returns",
        json={
            "order_id": order["id"],
            "items": [
                {
                    "order_line_id": order["lines"][0]["id"],
                    "quantity": quantity,
                    "outcome": outcome,
                    "reason": "Too small",
                    "parent_reason": "Fit",
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def post_hmac_signed(
    client: TestClient,
    path: str,
    body: bytes,
    *,
    header: str,
    secret: str,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST a webhook signed as Shopify signs: base64(HMAC-SHA256(secret, raw body)) in header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return client.post(
        path,
        content=body,
        headers={
            header: base64.b64encode(digest).decode(),
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )
