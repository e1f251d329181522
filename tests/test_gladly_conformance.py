"""Gladly's contract to the letter: value types as Gladly's sample adaptor sends them, money in
one form, the documented statuses, Gladly's error shape on every answer, and every URL handed
to Gladly opening a real page. Fixtures: tests/fixtures/gladly/ (see its README)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from returnhub.api.app import create_app
from returnhub.api.gladly import actions
from returnhub.connectors.gladly import contract
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order
from tests.test_gladly_lookup import KEY, LOOKUP, signed_get, signed_post
from tests.test_web_agent import sign_in

FIXTURES = Path(__file__).parent / "fixtures" / "gladly"
README = Path(__file__).parent.parent / "README.md"
BASE_URL = "https://hub.example.com"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def gladly(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"gladly_signing_key": SecretStr(KEY), "base_url": BASE_URL}
    )
    app = create_app(configured, db, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def status_pages() -> Iterator[HTTPServer]:
    """The returns system that serves a return's customer-facing status page."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def _return(client: TestClient, order: dict[str, Any], **extra: Any) -> dict[str, Any]:
    line = order["lines"][0]
    body = {
        "order_id": order["id"],
        "items": [{"order_line_id": line["id"], "quantity": 1, "outcome": "refund"}],
        **extra,
    }
    response = client.post("/api/v1/returns", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _detailed(client: TestClient, customer_id: str) -> dict[str, Any]:
    response = signed_post(
        client,
        LOOKUP,
        {
            "lookupLevel": "DETAILED",
            "query": {"externalCustomerId": customer_id},
            "uniqueMatchRequired": True,
        },
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    found: dict[str, Any] = result
    return found


def _types(value: Any) -> Any:
    """The JSON type of every key, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(value[0])] if value else []
    return type(value).__name__


def _common(ours: Any, sample: Any) -> Any:
    """``ours`` restricted to the keys the sample also sends."""
    if isinstance(ours, dict) and isinstance(sample, dict):
        return {k: _common(v, sample[k]) for k, v in ours.items() if k in sample}
    if isinstance(ours, list) and isinstance(sample, list) and ours and sample:
        return [_common(ours[0], sample[0])]
    return ours


# ---- value types ---------------------------------------------------------------------------


def test_order_transaction_types_are_those_of_gladlys_sample(
    gladly: TestClient, clock: Clock
) -> None:
    customer = create_customer(gladly)
    order = create_order(gladly, clock.now, customer["id"])
    _return(gladly, order, status_page_url="https://returns.example.com/s/1")
    [transaction] = _detailed(gladly, customer["id"])["transactions"]
    sample = _fixture("lookup_practice_order_transaction.json")
    assert _types(_common(transaction, sample)) == _types(_common(sample, transaction))
    assert (transaction["itemCount"], transaction["products"][0]["quantity"]) == ("3", "2")
    # Every key the sample sends, we send (but its duplicate `status` of `orderStatus`).
    assert set(sample) - set(transaction) == {"status"}


# ---- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (28300, "USD", "$283.00"),
        (123450, "USD", "$1234.50"),
        (1200, "JPY", "¥1200"),
        (12900, "KWD", "KWD12.900"),
        (5, "KWD", "KWD0.005"),
        (999, "EUR", "€9.99"),
        (120050, "CHF", "CHF1200.50"),
        (-500, "GBP", "-£5.00"),
    ],
)
def test_amounts_have_one_form_for_every_currency(minor: int, currency: str, text: str) -> None:
    assert contract.amount(minor, currency) == text


def test_a_kwd_order_writes_every_amount_in_the_same_form(gladly: TestClient, clock: Clock) -> None:
    customer = create_customer(gladly)
    lines = [
        {"sku": "DSH-1", "title": "Dishdasha", "quantity": 1, "unit_price": 12900},
        {"sku": "GHT-2", "title": "Ghutra", "quantity": 3, "unit_price": 4250},
    ]
    order = create_order(gladly, clock.now, customer["id"], currency="KWD", lines=lines)
    _return(gladly, order)
    [transaction] = _detailed(gladly, customer["id"])["transactions"]
    assert transaction["currencyCode"] == "KWD"
    assert transaction["orderTotal"] == "KWD25.650"
    money = [transaction["orderTotal"]] + [
        p[key] for p in transaction["products"] for key in ("unitPrice", "total")
    ]
    assert money == ["KWD25.650", "KWD12.900", "KWD12.900", "KWD4.250", "KWD12.750"]
    assert re.search(r"refund KWD\d+\.\d{3} ", transaction["note"]), transaction["note"]


# ---- statuses ------------------------------------------------------------------------------


def _readme_list(heading: str) -> list[str]:
    """The backticked values on the README line that starts with ``heading``."""
    line = next(x for x in README.read_text().splitlines() if x.startswith(heading))
    return re.findall(r"`([^`]+)`", line.removeprefix(heading))


def test_the_readme_lists_exactly_the_statuses_we_send() -> None:
    assert _readme_list("- `orderStatus`:") == list(contract.ORDER_STATUSES)
    assert _readme_list("- product `status`:") == list(contract.PRODUCT_STATUSES)
    assert _readme_list("- fulfillment `status`:") == list(contract.FULFILLMENT_STATUSES)


def test_every_status_sent_is_a_documented_one(gladly: TestClient, clock: Clock) -> None:
    customer = create_customer(gladly)
    placed = create_order(gladly, clock.now, customer["id"], delivered_days_ago=None)
    create_order(
        gladly, clock.now, customer["id"], delivered_days_ago=None, fulfillments=[], name="#9001"
    )
    delivered = create_order(gladly, clock.now, customer["id"])
    _return(gladly, delivered)
    result = _detailed(gladly, customer["id"])
    statuses = {t["orderNumber"]: t["orderStatus"] for t in result["transactions"]}
    assert statuses == {
        placed["name"].lstrip("#"): "Shipped",
        "9001": "Placed",
        delivered["name"].lstrip("#"): "Return requested",
    }
    for transaction in result["transactions"]:
        assert transaction["orderStatus"] in contract.ORDER_STATUSES
        assert {p["status"] for p in transaction["products"]} <= set(contract.PRODUCT_STATUSES)
        assert {f["status"] for f in transaction["fulfillments"]} <= set(
            contract.FULFILLMENT_STATUSES
        )


# ---- Gladly's error shape on every answer --------------------------------------------------


GLADLY_ERROR_KEYS = {"attr", "code", "detail"}


def test_our_error_keys_are_keys_of_gladlys_sample_errors() -> None:
    sample = _fixture("lookup_practice_action_error.json")["errors"]
    assert {key for error in sample for key in error} >= GLADLY_ERROR_KEYS


def _gladly_shaped(response: Any) -> list[dict[str, str]]:
    """The errors, checked against Gladly's shape: ``code`` and ``detail`` always, ``attr``
    where a field or header is at fault, nothing else, every value a non-empty string."""
    errors: list[dict[str, str]] = response.json()["errors"]
    assert errors
    for error in errors:
        assert {"code", "detail"} <= set(error) <= GLADLY_ERROR_KEYS, error
        assert all(isinstance(v, str) and v for v in error.values()), error
    return errors


def test_the_lookup_answers_wrong_methods_in_gladlys_shape(gladly: TestClient) -> None:
    response = gladly.get(LOOKUP)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert _gladly_shaped(response)[0]["code"] == "method_not_allowed"


def test_the_actions_answer_wrong_methods_in_gladlys_shape(gladly: TestClient) -> None:
    form = gladly.post("/integrations/gladly/actions/note/form?customer=cus_x", json={})
    assert (form.status_code, form.headers["allow"]) == (405, "GET")
    submit = gladly.get("/integrations/gladly/actions/note/submit?customer=cus_x")
    assert (submit.status_code, submit.headers["allow"]) == (405, "POST")
    for response in (form, submit):
        assert _gladly_shaped(response)[0]["code"] == "method_not_allowed"


def test_an_oversized_action_body_is_413_in_gladlys_shape(
    settings: Settings, db: Database, clock: Clock
) -> None:
    small = settings.model_copy(
        update={"gladly_signing_key": SecretStr(KEY), "webhook_max_body_bytes": 1024}
    )
    with TestClient(create_app(small, db, clock, worker=False)) as client:
        response = client.post(
            "/integrations/gladly/actions/note/submit?customer=cus_x",
            content=b'{"note":"' + b"x" * 2048 + b'"}',
        )
    assert response.status_code == 413
    assert _gladly_shaped(response)[0] == {
        "attr": "body",
        "code": "too_long",
        "detail": "over 1024 bytes",
    }


DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none"
DETAILED = {
    "lookupLevel": "DETAILED",
    "uniqueMatchRequired": True,
    "query": {"externalCustomerId": "cus_missing"},
}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", LOOKUP, DETAILED),
        ("GET", "/integrations/gladly/actions/note/form?customer=cus_x", None),
        ("POST", "/integrations/gladly/actions/note/submit?customer=cus_x", {"note": "hi"}),
    ],
)
def test_a_database_down_is_503_in_gladlys_shape(
    method: str, path: str, body: dict[str, Any] | None
) -> None:
    app = create_app(Settings(database_url=DOWN, embedded_worker=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert _gladly_shaped(response) == [
        {
            "code": "database_unavailable",
            "detail": "the database is busy or unreachable; retry shortly",
        }
    ]


def test_a_failure_is_500_in_gladlys_shape_without_a_trace(
    gladly: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(actions, "load_context", broken)
    monkeypatch.setattr(contract, "parse_request", broken)
    answers = [
        signed_get(gladly, "/integrations/gladly/actions/note/form?customer=cus_x"),
        signed_post(gladly, "/integrations/gladly/actions/note/submit?customer=cus_x", {}),
        signed_post(gladly, LOOKUP, DETAILED),
    ]
    for response in answers:
        assert response.status_code == 500
        assert "secret" not in response.text
        assert _gladly_shaped(response)[0]["code"] == "internal_error"


# ---- every URL handed to Gladly opens a real page ------------------------------------------


def _urls(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, url) for every URL in a DETAILED result."""
    attrs = result["customAttributes"]
    found = [("rmaLink", attrs["rmaLink"]), ("returnStatusPageUrl", attrs["returnStatusPageUrl"])]
    found += [("formUrl", a["formUrl"]) for a in result["actions"]]
    for t in result["transactions"]:
        found.append(("orderLink", t["orderLink"]))
        if "customerOrderUrl" in t:
            found.append(("customerOrderUrl", t["customerOrderUrl"]))
        found += [("formUrl", a["formUrl"]) for a in t["actions"]]
    return found


def test_every_url_in_a_detailed_answer_opens_a_real_page(
    gladly: TestClient, clock: Clock, status_pages: HTTPServer
) -> None:
    customer = create_customer(gladly, name="Maya Lee")
    returned = create_order(gladly, clock.now, customer["id"], name="#5001")
    plain = create_order(gladly, clock.now, customer["id"], name="#5002")
    status_page = status_pages.url_for("/returns/r-5001")
    status_pages.expect_request("/returns/r-5001").respond_with_data(
        "<h1>Your return</h1>", content_type="text/html"
    )
    ret = _return(gladly, returned, status_page_url=status_page)
    result = _detailed(gladly, customer["id"])
    urls = _urls(result)
    kinds = [kind for kind, _ in urls]
    assert kinds.count("orderLink") == 2 and kinds.count("customerOrderUrl") == 1
    assert kinds.count("formUrl") == 4 + 3 * 2

    sign_in(gladly)
    for kind, url in urls:
        if kind == "formUrl":
            # Relative to the adaptor's URL; Gladly fetches it signed, then posts the form.
            assert url.startswith("/integrations/gladly/actions/")
            form = signed_get(gladly, url)
            assert form.status_code == 200, (url, form.text)
            submitted = signed_post(gladly, form.json()["actionUrl"], {})
            assert submitted.status_code in (200, 400), (url, submitted.text)
            if submitted.status_code == 400:
                assert all(e["attr"] for e in _gladly_shaped(submitted)), submitted.text
        elif url.startswith(BASE_URL + "/agent/"):
            page = gladly.get(urlsplit(url).path, follow_redirects=False)
            assert page.status_code == 200, (kind, url, page.text)
            assert page.headers["content-type"].startswith("text/html")
        else:
            # A source system's own page, handed over unchanged.
            assert (kind, url) in {
                ("customerOrderUrl", status_page),
                ("returnStatusPageUrl", status_page),
            }
            assert httpx.get(url).status_code == 200

    order_page = gladly.get(f"/agent/orders/{returned['id']}")
    assert "Order #5001" in order_page.text
    assert f'href="/agent/returns/{ret["id"]}"' in order_page.text
    assert f'href="/agent/customers/{customer["id"]}"' in order_page.text
    assert "1Z999AA10123456784" in order_page.text and "Rain Jacket" in order_page.text
    assert "No returns on this order." in gladly.get(f"/agent/orders/{plain['id']}").text


def test_the_order_page_needs_a_session_and_a_real_order(gladly: TestClient, clock: Clock) -> None:
    order = create_order(gladly, clock.now)
    signed_out = gladly.get(f"/agent/orders/{order['id']}", follow_redirects=False)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/agent/login")
    sign_in(gladly)
    assert gladly.get("/agent/orders/ord_nothing").status_code == 404
