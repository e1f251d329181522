"""Gladly Lookup Adaptor conformance: Gladly's published request shapes, signed for real,
against the contract in ../shared/reference/gladly.md."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from returnhub.api.app import create_app
from returnhub.api.errors import failure_answer
from returnhub.api.gladly import routes as gladly_routes
from returnhub.api.plain import PlainEndpoints
from returnhub.connectors.gladly import signing
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, PRODUCTION_SECRET_KEY, Clock
from tests.factories import create_customer, create_order, create_return
from tests.gladly_sample import sample_authorization

KEY = "gladly-signing-key-for-tests"
LOOKUP = "/integrations/gladly/lookup"


@pytest.fixture
def gladly(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"gladly_signing_key": SecretStr(KEY), "base_url": "https://hub.example.com"}
    )
    app = create_app(configured, db, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


def gladly_now() -> str:
    """Gladly-Time as Gladly stamps a request it sends now (the hub refuses stale ones)."""
    return datetime.now(UTC).strftime(signing.TIME_FORMAT)


def signed_post(client: TestClient, path: str, payload: Any, key: str = KEY) -> Any:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "gladly-correlation-id": "XvIZz4Q1R0CZcGbB5pmZig",
        "x-b3-traceid": "5ef219cf84354740997066c1e699998a",
    }
    path_only, _, query = path.partition("?")
    stamp = gladly_now()
    auth = signing.sign_headers(key, "POST", path_only, query, headers, body, stamp)
    return client.post(
        path, content=body, headers={**headers, "gladly-time": stamp, "gladly-authorization": auth}
    )


def signed_get(client: TestClient, path: str) -> Any:
    headers = {"accept": "application/json", "gladly-correlation-id": "c0rr"}
    path_only, _, query = path.partition("?")
    stamp = gladly_now()
    auth = signing.sign_headers(KEY, "GET", path_only, query, headers, b"", stamp)
    return client.get(path, headers={**headers, "gladly-time": stamp, "gladly-authorization": auth})


def _customer(client: TestClient, **overrides: Any) -> dict[str, Any]:
    return create_customer(client, **overrides)


def _assert_profile_shape(result: dict[str, Any]) -> None:
    assert isinstance(result["externalCustomerId"], str) and result["externalCustomerId"]
    assert all(set(e) == {"original"} for e in result["emails"])
    assert all(set(p) == {"original", "type"} for p in result["phones"])
    assert all(
        isinstance(k, str) and isinstance(v, str) for k, v in result["customAttributes"].items()
    )


def test_auto_link_by_email_returns_exactly_one(gladly: TestClient) -> None:
    maya = _customer(gladly, emails=["yasir@gladly.com"], name="Yasir Sadeque")
    response = signed_post(
        gladly,
        LOOKUP,
        {
            "lookupLevel": "BASIC",
            "query": {
                "emails": [" Yasir@Gladly.com "],
                "id": "Br1zuiBMTA-daPVl50x45w",
                "name": "Yasir Sadeque",
            },
            "uniqueMatchRequired": False,
        },
    )
    assert response.status_code == 200
    [result] = response.json()["results"]
    _assert_profile_shape(result)
    assert result["externalCustomerId"] == maya["id"]
    assert result["emails"] == [{"original": "yasir@gladly.com"}]


def test_auto_link_by_mobile_phone_only(gladly: TestClient) -> None:
    _customer(gladly, emails=[], phones=[{"number": "+15013299800", "type": "HOME"}])
    query = {
        "lookupLevel": "BASIC",
        "query": {"phones": ["+15013299800"]},
        "uniqueMatchRequired": False,
    }
    assert signed_post(gladly, LOOKUP, query).json() == {"results": []}
    mobile = _customer(gladly, emails=[], phones=[{"number": "+15013299801", "type": "MOBILE"}])
    query["query"] = {"phones": ["(501) 329-9801"]}
    [result] = signed_post(gladly, LOOKUP, query).json()["results"]
    assert result["externalCustomerId"] == mobile["id"]
    assert result["phones"] == [{"original": "+15013299801", "type": "MOBILE"}]


def test_auto_link_never_picks_between_two(gladly: TestClient) -> None:
    _customer(gladly, emails=["a@example.com"], phones=[])
    _customer(gladly, emails=["b@example.com"], phones=[])
    query = {"emails": ["a@example.com", "b@example.com"]}
    response = signed_post(
        gladly, LOOKUP, {"lookupLevel": "BASIC", "query": query, "uniqueMatchRequired": False}
    )
    assert response.json() == {"results": []}


def test_manual_search_with_string_keys(gladly: TestClient, clock: Clock) -> None:
    ana = _customer(gladly, emails=["ana@example.com"], phones=[{"number": "+14155550111"}])
    ben = _customer(gladly, emails=["ben@example.com"], phones=[{"number": "+14155550112"}])
    order = create_order(gladly, clock.now, ben["id"], name="#1086")
    create_return(gladly, order)

    def ids(query: dict[str, Any]) -> list[str]:
        response = signed_post(
            gladly, LOOKUP, {"lookupLevel": "basic", "query": query, "uniqueMatchRequired": False}
        )
        assert response.status_code == 200, response.text
        for result in response.json()["results"]:
            _assert_profile_shape(result)
        return [r["externalCustomerId"] for r in response.json()["results"]]

    assert ids({"emails": "ana@example.com"}) == [ana["id"]]  # SPREE-style string
    assert ids({"email": "ANA@example.com"}) == [ana["id"]]
    assert ids({"phone": "415-555-0112"}) == [ben["id"]]
    assert ids({"email": "ana@example.com", "phone": "+14155550112"}) == [ana["id"], ben["id"]]
    assert ids({"orderNumber": "1086"}) == [ben["id"]]
    assert ids({"orderNumber": "#1086"}) == [ben["id"]]
    assert ids({"email": "nobody@example.com"}) == []
    [ben_result] = signed_post(
        gladly,
        LOOKUP,
        {
            "lookupLevel": "BASIC",
            "query": {"email": "ben@example.com"},
            "uniqueMatchRequired": False,
        },
    ).json()["results"]
    assert ben_result["customAttributes"] == {
        "email": "ben@example.com",
        "openReturnCount": "1",
        "lifetimeReturnCount": "1",
    }


def test_manual_search_caps_at_25(gladly: TestClient) -> None:
    for i in range(30):
        _customer(gladly, name=f"Sam Example {i}", emails=[], phones=[])
    response = signed_post(
        gladly,
        LOOKUP,
        {"lookupLevel": "BASIC", "query": {"name": "sam example"}, "uniqueMatchRequired": False},
    )
    assert len(response.json()["results"]) == 25


@pytest.mark.parametrize("nested", [False, True], ids=["flattened", "nested"])
def test_detailed_lookup(gladly: TestClient, clock: Clock, nested: bool) -> None:
    customer = _customer(gladly, name="Martha Williams", emails=["martha.williams@example.com"])
    old_order = create_order(gladly, clock.now, customer["id"], name="#2001")
    new_order = create_order(gladly, clock.now, customer["id"], name="#2002")
    closed = create_return(gladly, old_order)
    for action in ("cancel",):
        gladly.post(f"/api/v1/returns/{closed['id']}/{action}")
    open_return = create_return(gladly, new_order, quantity=2)
    gladly.post(f"/api/v1/returns/{open_return['id']}/authorize")
    gladly.post(f"/api/v1/returns/{open_return['id']}/receive")
    clock.advance(days=9)
    custom = {"favoriteDate": "2018-08-19T07:00:00.000Z", "favoriteFood": "Apple Pie"}
    query: dict[str, Any] = {
        "emails": ["martha.williams@example.com"],
        "externalCustomerId": customer["id"],
        "id": "o2sg-TMTSD2rTwMuxzewbA",
        "name": "Martha Williams",
        "phones": [],
    }
    query.update({"customAttributes": custom} if nested else custom)
    response = signed_post(
        gladly, LOOKUP, {"lookupLevel": "DETAILED", "query": query, "uniqueMatchRequired": True}
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    _assert_profile_shape(result)
    attrs = result["customAttributes"]
    assert attrs == {
        "rmaLink": f"https://hub.example.com/agent/returns/{open_return['id']}",
        "rmaNumber": open_return["number"],
        "latestReturnState": "received",
        "returnStatusPageUrl": "",
        "openReturnCount": "1",
        "refundPendingDays": "9",
        "lifetimeReturnCount": "2",
        "routingQueue": "returns-senior",
        "routingPriority": "high",
    }
    by_number = {t["orderNumber"]: t for t in result["transactions"]}
    assert set(by_number) == {"2001", "2002"}
    recent = by_number["2002"]
    assert recent["type"] == "ORDER"
    assert recent["orderStatus"] == "Return received"
    assert recent["orderTotal"] == "$283.00"
    assert recent["currencyCode"] == "USD"
    assert recent["itemCount"] == "3"
    assert recent["createdAt"].endswith("Z") and "T" in recent["createdAt"]
    assert recent["orderLink"] == f"https://hub.example.com/agent/orders/{new_order['id']}"
    assert open_return["number"] in recent["note"]
    assert [p["status"] for p in recent["products"]] == ["returned", "delivered"]
    assert recent["products"][0]["unitPrice"] == "$129.00"
    assert recent["fulfillments"][0]["trackingNumber"] == "1Z999AA10123456784"
    assert by_number["2001"]["orderStatus"] == "Return cancelled"
    assert [a["name"] for a in result["actions"]] == [
        "Generate return link",
        "Grant return exception",
        "Start a return",
        "Add note to return",
    ]
    assert all(a["formUrl"].startswith("/integrations/gladly/actions/") for a in recent["actions"])


def test_detailed_clears_attributes_that_no_longer_apply(gladly: TestClient) -> None:
    customer = _customer(gladly)
    response = signed_post(
        gladly,
        LOOKUP,
        {
            "lookupLevel": "DETAILED",
            "query": {"externalCustomerId": customer["id"]},
            "uniqueMatchRequired": True,
        },
    )
    attrs = response.json()["results"][0]["customAttributes"]
    assert (
        attrs["rmaLink"] == ""
        and attrs["refundPendingDays"] == ""
        and attrs["openReturnCount"] == "0"
    )


def test_detailed_unknown_customer_is_empty(gladly: TestClient) -> None:
    response = signed_post(
        gladly,
        LOOKUP,
        {
            "lookupLevel": "DETAILED",
            "query": {"externalCustomerId": "abc"},
            "uniqueMatchRequired": True,
        },
    )
    assert response.status_code == 200
    assert response.json() == {"results": []}


@pytest.mark.parametrize(
    ("payload", "attrs"),
    [
        ({"query": {}, "uniqueMatchRequired": False}, ["lookupLevel"]),
        ({"lookupLevel": "FULL", "query": {}, "uniqueMatchRequired": False}, ["lookupLevel"]),
        ({"lookupLevel": "BASIC", "query": {}}, ["uniqueMatchRequired"]),
        (
            {"lookupLevel": "DETAILED", "query": {}, "uniqueMatchRequired": True},
            ["query.externalCustomerId"],
        ),
        (
            {
                "lookupLevel": "DETAILED",
                "query": {"externalCustomerId": "x"},
                "uniqueMatchRequired": False,
            },
            ["uniqueMatchRequired"],
        ),
        (
            {"lookupLevel": "BASIC", "query": {"emails": [1]}, "uniqueMatchRequired": False},
            ["query.emails"],
        ),
        ({"lookupLevel": "BASIC", "query": [], "uniqueMatchRequired": False}, ["query"]),
        ([1, 2], ["body"]),
    ],
)
def test_malformed_requests_are_400_in_gladly_shape(
    gladly: TestClient, payload: Any, attrs: list[str]
) -> None:
    response = signed_post(gladly, LOOKUP, payload)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["attr"] for e in errors] == attrs
    assert all(set(e) == {"attr", "code", "detail"} for e in errors)


def test_unsigned_or_badly_signed_requests_are_401(gladly: TestClient) -> None:
    payload = {
        "lookupLevel": "BASIC",
        "query": {"email": "x@example.com"},
        "uniqueMatchRequired": False,
    }
    unsigned = gladly.post(LOOKUP, json=payload)
    assert unsigned.status_code == 401
    assert unsigned.json()["errors"][0]["attr"] == "Gladly-Authorization"
    wrong = signed_post(gladly, LOOKUP, payload, key="another-key")
    assert wrong.status_code == 401
    assert "RETURNHUB_GLADLY_SIGNING_KEY" in wrong.json()["errors"][0]["detail"]


def test_a_signed_header_with_whitespace_runs_passes_end_to_end(gladly: TestClient) -> None:
    """Signed the way Gladly's sample verifier reads headers (runs of whitespace collapsed)."""
    body = b'{"lookupLevel":"BASIC","query":{"email":"x@example.com"},"uniqueMatchRequired":false}'
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "gladly-time": gladly_now(),
        "x-api-key": "Acme   Returns\t\tdesk",
    }
    auth = sample_authorization(KEY, "POST", LOOKUP, headers, body)
    response = gladly.post(LOOKUP, content=body, headers={**headers, "gladly-authorization": auth})
    assert response.status_code == 200, response.text
    assert response.json() == {"results": []}


def test_published_test_vector_end_to_end(settings: Settings, db: Database, clock: Clock) -> None:
    """Gladly's own signed example, byte for byte, through the real handler and HTTP stack."""
    # The vector was signed in 2019: only the freshness window is off for it.
    configured = settings.model_copy(
        update={
            "gladly_signing_key": SecretStr("test-apikey-1"),
            "gladly_signature_max_age_seconds": 0,
        }
    )
    hub = create_app(configured, db, clock, worker=False)
    # The vector was signed for this path; serve the production handler there too.
    vector_route = replace(
        gladly_routes.lookup_route(hub.state.context), template="/api/v2/customer/lookup"
    )
    app = PlainEndpoints(hub, [vector_route], failure_answer)
    body = (
        b'{"lookupLevel":"DETAILED","query":{"emails":["martha.williams@gmail.com"],'
        b'"externalCustomerId":"abc","favoriteDate":"2018-08-19T07:00:00.000Z",'
        b'"favoriteFood":"Apple Pie","id":"o2sg-TMTSD2rTwMuxzewbA","name":"Martha Williams",'
        b'"phones":["+15013299800"]},"uniqueMatchRequired":true}'
    )
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Gladly-Correlation-Id": "vXmSEPjVSWCaCMzvjufxZg",
        "X-B3-Traceid": "bd799210f8d549609a08ccef8ee7f166",
        "Gladly-Time": "20190213T214016Z",
        "Gladly-Authorization": "SigningAlgorithm=hmac-sha256, "
        "SignedHeaders=accept;content-type;gladly-correlation-id;gladly-time;x-b3-traceid, "
        "Signature=4c633fca4914f51df04c9ec40f4545d66d653e771c6634e33eed52a242bc278c",
    }
    with TestClient(app, base_url="https://example.organization.com") as client:
        ok = client.post("/api/v2/customer/lookup", content=body, headers=headers)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"results": []}
        tampered = client.post("/api/v2/customer/lookup", content=body + b" ", headers=headers)
        assert tampered.status_code == 401


def test_basic_auth_and_header_token(settings: Settings, db: Database, clock: Clock) -> None:
    configured = settings.model_copy(
        update={
            "gladly_basic_username": "gladly",
            "gladly_basic_password": SecretStr("pw-123456"),
            "gladly_header_token": SecretStr("static-token-abc"),
        }
    )
    app = create_app(configured, db, clock, worker=False)
    payload = {
        "lookupLevel": "BASIC",
        "query": {"email": "x@example.com"},
        "uniqueMatchRequired": False,
    }
    good_basic = "Basic " + base64.b64encode(b"gladly:pw-123456").decode()
    with TestClient(app) as client:
        ok = client.post(
            LOOKUP,
            json=payload,
            headers={"Authorization": good_basic, "X-Api-Key": "static-token-abc"},
        )
        assert ok.status_code == 200
        no_token = client.post(LOOKUP, json=payload, headers={"Authorization": good_basic})
        assert no_token.status_code == 401
        assert no_token.json()["errors"][0]["attr"] == "X-Api-Key"
        bad_basic = "Basic " + base64.b64encode(b"gladly:wrong").decode()
        wrong = client.post(
            LOOKUP,
            json=payload,
            headers={"Authorization": bad_basic, "X-Api-Key": "static-token-abc"},
        )
        assert wrong.status_code == 401
        assert "RETURNHUB_GLADLY_BASIC_PASSWORD" in wrong.json()["errors"][0]["detail"]


def test_production_without_any_gladly_auth_refuses(
    settings: Settings, db: Database, clock: Clock
) -> None:
    production = Settings(
        mode="production",
        secret_key=PRODUCTION_SECRET_KEY,
        database_url=settings.database_url,
        embedded_worker=False,
    )
    app = create_app(production, db, clock)
    with TestClient(app) as client:
        response = client.post(
            LOOKUP, json={"lookupLevel": "BASIC", "query": {}, "uniqueMatchRequired": False}
        )
    assert response.status_code == 401
    assert "no authentication configured" in response.json()["errors"][0]["detail"]
