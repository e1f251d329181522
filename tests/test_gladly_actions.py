"""Gladly Actions: forms answered over GET, submissions over POST, both signed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from returnhub.api.app import create_app
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order, create_return
from tests.test_gladly_lookup import KEY, signed_get, signed_post

BASE = "/integrations/gladly/actions"


@pytest.fixture
def gladly(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"gladly_signing_key": SecretStr(KEY)})
    app = create_app(configured, db, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def shopper(gladly: TestClient, clock: Clock) -> dict[str, Any]:
    customer = create_customer(gladly, emails=["shopper@example.com"])
    order = create_order(gladly, clock.now, customer["id"], name="#3001")
    return {"customer": customer, "order": order}


def _form(
    client: TestClient, action: str, customer: str, order: str | None = None
) -> dict[str, Any]:
    query = f"customer={customer}" + (f"&order={order}" if order else "")
    response = signed_get(client, f"{BASE}/{action}/form?{query}")
    assert response.status_code == 200, response.text
    form: dict[str, Any] = response.json()
    assert set(form) == {"title", "submitButton", "closeButton", "actionUrl", "sections"}
    return form


def _submit(client: TestClient, form: dict[str, Any], data: dict[str, Any]) -> Any:
    return signed_post(client, form["actionUrl"], data)


def test_generate_return_link(gladly: TestClient, shopper: dict[str, Any]) -> None:
    form = _form(gladly, "return-link", shopper["customer"]["id"], shopper["order"]["id"])
    order_field = form["sections"][0]
    assert order_field["attr"] == "order"
    assert order_field["defaultValue"] == shopper["order"]["id"]
    assert [o["value"] for o in order_field["input"]["options"]] == [shopper["order"]["id"]]
    response = _submit(gladly, form, {"order": shopper["order"]["id"], "gift": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Return link for #3001 created"
    token = body["detail"].split("/r/")[1].split(" ")[0]
    checked = gladly.get(f"/api/v1/return-links/{token}").json()
    assert (checked["order_id"], checked["gift"]) == (shopper["order"]["id"], True)


def test_return_link_for_someone_elses_order_is_400(
    gladly: TestClient, shopper: dict[str, Any], clock: Clock
) -> None:
    other = create_order(gladly, clock.now)
    form = _form(gladly, "return-link", shopper["customer"]["id"])
    response = _submit(gladly, form, {"order": other["id"]})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"attr": "order", "code": "invalid", "detail": "choose one of this customer's orders"}
    ]


def test_grant_exception_allowlists_the_order(gladly: TestClient, shopper: dict[str, Any]) -> None:
    form = _form(gladly, "exception", shopper["customer"]["id"], shopper["order"]["id"])
    missing = _submit(gladly, form, {"kind": "order", "order": shopper["order"]["id"]})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["attr"] == "reason"
    ok = _submit(
        gladly, form, {"kind": "order", "order": shopper["order"]["id"], "reason": "late delivery"}
    )
    assert ok.status_code == 200, ok.text
    entries = gladly.get("/api/v1/allowlist").json()["data"]
    assert [(e["kind"], e["value"], e["reason"], e["created_by"]) for e in entries] == [
        ("order", "#3001", "late delivery", "gladly")
    ]
    again = _submit(
        gladly, form, {"kind": "order", "order": shopper["order"]["id"], "reason": "again"}
    )
    assert again.status_code == 400
    assert "already allowlisted" in again.json()["errors"][0]["detail"]


def test_grant_exception_by_email(gladly: TestClient, shopper: dict[str, Any]) -> None:
    form = _form(gladly, "exception", shopper["customer"]["id"])
    assert _submit(gladly, form, {"kind": "email", "reason": "VIP"}).status_code == 200
    assert gladly.get("/api/v1/allowlist").json()["data"][0]["value"] == "shopper@example.com"


def test_start_a_return_and_note_it(gladly: TestClient, shopper: dict[str, Any]) -> None:
    customer_id = shopper["customer"]["id"]
    form = _form(gladly, "start-return", customer_id, shopper["order"]["id"])
    lines = form["sections"][0]["input"]["options"]
    assert [o["value"] for o in lines] == [line["id"] for line in shopper["order"]["lines"]]
    too_many = _submit(
        gladly, form, {"line": lines[0]["value"], "quantity": "5", "outcome": "refund"}
    )
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["attr"] == "quantity"
    final_sale = _submit(
        gladly, form, {"line": lines[1]["value"], "quantity": "1", "outcome": "refund"}
    )
    assert final_sale.status_code == 400
    assert "final sale" in final_sale.json()["errors"][0]["detail"]
    assert (
        _submit(gladly, form, {"line": lines[0]["value"], "quantity": "x"}).json()["errors"][0][
            "code"
        ]
        == "not_a_number"
    )
    ok = _submit(
        gladly,
        form,
        {"line": lines[0]["value"], "quantity": "2", "outcome": "exchange", "reason": "Too big"},
    )
    assert ok.status_code == 200, ok.text
    [ret] = gladly.get(f"/api/v1/customers/{customer_id}/returns").json()["data"]
    assert (ret["items"][0]["quantity"], ret["items"][0]["outcome"], ret["items"][0]["reason"]) == (
        2,
        "exchange",
        "Too big",
    )

    note_form = _form(gladly, "note", customer_id)
    assert note_form["sections"][0]["input"]["options"][0]["value"] == ret["id"]
    assert _submit(gladly, note_form, {"return": ret["id"], "note": ""}).status_code == 400
    added = _submit(
        gladly, note_form, {"return": ret["id"], "note": "Customer called about sizing"}
    )
    assert added.status_code == 200
    notes = gladly.get(f"/api/v1/returns/{ret['id']}").json()["notes"]
    assert [(n["body"], n["author"]) for n in notes] == [("Customer called about sizing", "gladly")]


def test_note_on_foreign_return_is_400(
    gladly: TestClient, shopper: dict[str, Any], clock: Clock
) -> None:
    foreign = create_return(gladly, create_order(gladly, clock.now))
    form = _form(gladly, "note", shopper["customer"]["id"])
    response = _submit(gladly, form, {"return": foreign["id"], "note": "hi"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "return"


def test_actions_need_the_signature(gladly: TestClient, shopper: dict[str, Any]) -> None:
    response = gladly.get(f"{BASE}/note/form?customer={shopper['customer']['id']}")
    assert response.status_code == 401
    response = gladly.post(f"{BASE}/note/submit?customer={shopper['customer']['id']}", json={})
    assert response.status_code == 401


def test_unknown_action_and_customer(gladly: TestClient, shopper: dict[str, Any]) -> None:
    assert signed_get(gladly, f"{BASE}/teleport/form?customer=x").status_code == 404
    unknown = signed_get(gladly, f"{BASE}/note/form?customer=cus_nobody")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["attr"] == "customer"
