"""The customer portal at /r/{token}: eligibility, starting a return, status, refusals."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.factories import create_customer, create_order


def _link(client: TestClient, order_id: str, gift: bool = False) -> str:
    response = client.post(f"/api/v1/orders/{order_id}/return-link", json={"gift": gift})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _setup(client: TestClient, clock: Clock) -> tuple[dict[str, Any], str]:
    order = create_order(client, clock.now)
    return order, _link(client, order["id"])


def test_order_page_shows_lines_with_eligibility(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    page = client.get(f"/r/{token}")
    assert page.status_code == 200
    html = page.text
    assert f"Return items from order {order['name']}" in html
    assert "Rain Jacket" in html and "Basic Tee" in html
    jacket, tee = order["lines"][0]["id"], order["lines"][1]["id"]
    assert f'name="qty_{jacket}"' in html
    assert f'<label for="qty_{jacket}">' in html
    # The final-sale tee cannot be returned, and the page says why.
    assert f'name="qty_{tee}"' not in html
    assert "the item was sold as final sale" in html
    assert 'name="viewport"' in html  # phone-sized screens


def test_customer_starts_a_return_and_sees_the_status(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    jacket = order["lines"][0]["id"]
    html = client.get(f"/r/{token}").text
    response = client.post(
        f"/r/{token}",
        data={
            "csrf": _csrf(html),
            f"qty_{jacket}": "1",
            f"reason_{jacket}": "too_small",
            f"outcome_{jacket}": "refund",
            f"comment_{jacket}": "sleeves too short",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    status_url = response.headers["location"]
    assert status_url.startswith(f"/r/{token}/returns/ret_")
    status = client.get(status_url)
    assert status.status_code == 200
    assert "Status:" in status.text and "requested" in status.text
    assert "129.00 USD" in status.text
    [ret] = client.get("/api/v1/returns", params={"order_id": order["id"]}).json()["data"]
    assert ret["state"] == "requested"
    assert ret["items"][0]["reason"] == "too_small"
    assert ret["items"][0]["comment"] == "sleeves too short"
    # The order page now lists the return and offers only the remaining quantity.
    again = client.get(f"/r/{token}").text
    assert ret["number"] in again
    assert "up to 1)" in again


def test_ineligible_or_empty_requests_are_explained(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    jacket = order["lines"][0]["id"]
    csrf = _csrf(client.get(f"/r/{token}").text)
    empty = client.post(f"/r/{token}", data={"csrf": csrf, f"qty_{jacket}": "0"})
    assert empty.status_code == 422
    assert "Choose at least one item" in empty.text
    too_many = client.post(
        f"/r/{token}",
        data={"csrf": csrf, f"qty_{jacket}": "5", f"outcome_{jacket}": "refund"},
    )
    assert too_many.status_code == 422
    assert "only 2 of line" in too_many.text
    assert client.get("/api/v1/returns", params={"order_id": order["id"]}).json()["data"] == []


def test_gift_links_offer_no_refund_to_the_original_payment(
    client: TestClient, clock: Clock
) -> None:
    order = create_order(client, clock.now)
    token = _link(client, order["id"], gift=True)
    html = client.get(f"/r/{token}").text
    assert 'value="refund"' not in html
    assert 'value="store_credit"' in html
    jacket = order["lines"][0]["id"]
    refused = client.post(
        f"/r/{token}",
        data={"csrf": _csrf(html), f"qty_{jacket}": "1", f"outcome_{jacket}": "refund"},
    )
    assert refused.status_code == 422


def test_post_without_the_form_token_is_refused(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    jacket = order["lines"][0]["id"]
    body = {f"qty_{jacket}": "1", f"outcome_{jacket}": "refund"}
    assert client.post(f"/r/{token}", data=body).status_code == 403
    assert client.post(f"/r/{token}", data={**body, "csrf": "forged"}).status_code == 403
    assert client.get("/api/v1/returns", params={"order_id": order["id"]}).json()["data"] == []


def test_tampered_and_expired_links_get_a_friendly_page(client: TestClient, clock: Clock) -> None:
    _, token = _setup(client, clock)
    body, _, mac = token.partition(".")
    for bad in (token[:-2] + "xx", f"{body}x.{mac}", "garbage"):
        page = client.get(f"/r/{bad}")
        assert page.status_code == 403
        assert "This return link does not work" in page.text
        assert "text/html" in page.headers["content-type"]
        assert client.post(f"/r/{bad}", data={}).status_code == 403
    clock.advance(days=15)
    expired = client.get(f"/r/{token}")
    assert expired.status_code == 403
    assert "This return link has expired" in expired.text
    assert "ask for a new one" in expired.text


def test_shows_nothing_beyond_that_order(client: TestClient, clock: Clock) -> None:
    customer = create_customer(client, name="Priya Natarajan")
    mine = create_order(client, clock.now, customer["id"])
    other = create_order(
        client,
        clock.now,
        customer["id"],
        lines=[{"sku": "SCARF-1", "title": "Wool Scarf", "quantity": 1, "unit_price": 4000}],
    )
    other_return = client.post(
        "/api/v1/returns",
        json={
            "order_id": other["id"],
            "items": [
                {"order_line_id": other["lines"][0]["id"], "quantity": 1, "outcome": "refund"}
            ],
        },
    )
    assert other_return.status_code == 201, other_return.text
    token = _link(client, mine["id"])
    html = client.get(f"/r/{token}").text
    for secret in (
        other["name"],
        "Wool Scarf",
        other_return.json()["number"],
        customer["emails"][0],
        "Priya",
        customer["id"],
    ):
        assert secret not in html
    # Another order's return is not reachable through this link.
    foreign = client.get(f"/r/{token}/returns/{other_return.json()['id']}")
    assert foreign.status_code == 404
    assert "Wool Scarf" not in foreign.text


def test_status_page_hides_internal_notes(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    created = client.post(
        "/api/v1/returns",
        json={
            "order_id": order["id"],
            "items": [
                {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"}
            ],
        },
    ).json()
    note = client.post(
        f"/api/v1/returns/{created['id']}/notes", json={"body": "INTERNAL: customer is rude"}
    )
    assert note.status_code == 201, note.text
    page = client.get(f"/r/{token}/returns/{created['id']}")
    assert page.status_code == 200
    assert "INTERNAL" not in page.text
    assert created["number"] in page.text


def test_exchange_asks_for_the_wanted_variant(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    jacket = order["lines"][0]["id"]
    html = client.get(f"/r/{token}").text
    assert f'<label for="exchange_{jacket}">' in html
    response = client.post(
        f"/r/{token}",
        data={
            "csrf": _csrf(html),
            f"qty_{jacket}": "2",
            f"reason_{jacket}": "too_small",
            f"outcome_{jacket}": "exchange",
            f"exchange_{jacket}": "Navy / L",
        },
    )
    assert response.status_code == 200, response.text
    [ret] = client.get("/api/v1/returns", params={"order_id": order["id"]}).json()["data"]
    assert ret["exchange_items"] == [
        {"sku": "JKT-RAIN-NVY-M", "title": "Rain Jacket", "variant": "Navy / L", "quantity": 2}
    ]
    assert ret["refund"]["amount"] == 0
    assert "No refund on this return (exchange)" in response.text


def test_static_files_are_served(client: TestClient) -> None:
    css = client.get("/static/app.css")
    assert css.status_code == 200 and "focus-visible" in css.text
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text


def test_nothing_returnable_offers_no_submit_button(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now, delivered_days_ago=120)  # every window has closed
    html = client.get(f"/r/{_link(client, order['id'])}").text
    assert "Start my return" not in html
    assert 'id="nothing-returnable"' in html
    fresh = create_order(client, clock.now)
    assert "Start my return" in client.get(f"/r/{_link(client, fresh['id'])}").text


def test_items_chosen_in_the_guide_are_prefilled(client: TestClient, clock: Clock) -> None:
    order, token = _setup(client, clock)
    jacket, tee = order["lines"][0]["id"], order["lines"][1]["id"]
    page = client.get(f"/r/{token}", params={"items": f"{jacket},{tee},lin_nope"})
    assert page.status_code == 200
    assert f'name="qty_{jacket}" type="number"' in page.text
    field = page.text.split(f'id="qty_{jacket}"', 1)[1].split(">", 1)[0]
    assert 'value="1"' in field
    # Not pre-filled without the parameter; the final-sale tee still has no field at all.
    plain = client.get(f"/r/{token}").text.split(f'id="qty_{jacket}"', 1)[1].split(">", 1)[0]
    assert 'value="0"' in plain
    assert f'name="qty_{tee}"' not in page.text
