from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from returnhub.domain import return_links
from tests.conftest import Clock
from tests.factories import create_order

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_token_round_trip_and_expiry() -> None:
    token, claims = return_links.issue("k" * 40, "ord_1", True, NOW, timedelta(days=14))
    assert return_links.verify("k" * 40, token, NOW + timedelta(days=13)) == claims
    with pytest.raises(return_links.ReturnLinkError) as expired:
        return_links.verify("k" * 40, token, NOW + timedelta(days=14))
    assert expired.value.code == "expired"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "x" + t,
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "é.é",
    ],
)
def test_tampered_tokens(mangle: object) -> None:
    token, _ = return_links.issue("k" * 40, "ord_1", False, NOW, timedelta(days=1))
    with pytest.raises(return_links.ReturnLinkError) as caught:
        return_links.verify("k" * 40, mangle(token), NOW)  # type: ignore[operator]
    assert caught.value.code == "tampered"


def test_other_key_refused() -> None:
    token, _ = return_links.issue("k" * 40, "ord_1", False, NOW, timedelta(days=1))
    with pytest.raises(return_links.ReturnLinkError):
        return_links.verify("z" * 40, token, NOW)


def test_api_creates_and_checks_links(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    response = client.post(f"/api/v1/orders/{order['id']}/return-link", json={"gift": True})
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["url"] == f"http://127.0.0.1:8000/r/{link['token']}"
    assert (link["order_id"], link["order_name"], link["gift"]) == (
        order["id"],
        order["name"],
        True,
    )
    assert link["expires_at"] == "2030-01-29T12:00:00Z"
    checked = client.get(f"/api/v1/return-links/{link['token']}")
    assert checked.json() == {
        "order_id": order["id"],
        "gift": True,
        "expires_at": link["expires_at"],
    }
    clock.advance(days=15)
    expired = client.get(f"/api/v1/return-links/{link['token']}")
    assert expired.status_code == 403
    assert expired.json()["errors"][0]["code"] == "expired"
    assert client.get("/api/v1/return-links/garbage").status_code == 403
    assert client.post("/api/v1/orders/ord_nope/return-link").status_code == 404
