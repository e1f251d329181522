"""Federated search and linking against strict fake Loop, ReturnLogic and Shopify servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from returnhub.api.app import create_app
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, Clock
from tests.factories import create_customer

LOOP_RETURN = json.loads(
    (Path(__file__).parent / "fixtures" / "loop" / "return_created.json").read_text()
)


@pytest.fixture
def fakes() -> Iterator[dict[str, HTTPServer]]:
    servers = {
        name: HTTPServer(host="127.0.0.1", port=0) for name in ("loop", "returnlogic", "shopify")
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.clear()
        server.stop()


@pytest.fixture
def connected(settings: Settings, fakes: dict[str, HTTPServer]) -> Settings:
    return settings.model_copy(
        update={
            "loop_api_key": SecretStr("loop-key"),
            "loop_base_url": fakes["loop"].url_for("/api/v1"),
            "returnlogic_api_key": SecretStr("rl-token"),
            "returnlogic_base_url": fakes["returnlogic"].url_for("/v1"),
            "shopify_access_token": SecretStr("shpat_test"),
            "shopify_base_url": fakes["shopify"].url_for(""),
            "search_system_timeout_seconds": 0.5,
            "search_budget_seconds": 1.0,
            "auto_link_enabled": False,
        }
    )


@pytest.fixture
def hub(connected: Settings, db: Database, clock: Clock) -> Iterator[tuple[TestClient, Database]]:
    database = Database(db.engine, connected)
    app = create_app(connected, database, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client, database


def expect_loop_returns(server: HTTPServer, email: str, rows: list[dict[str, Any]]) -> None:
    server.expect_request(
        "/api/v2/returns",
        method="GET",
        headers={"X-Authorization": "loop-key"},
        query_string={
            "filter": "updated_at",
            "limit": "10",
            "from": server_from(),
            "customer_email": email,
        },
    ).respond_with_json({"data": rows})


def server_from() -> str:
    from datetime import timedelta

    from returnhub.store.types import utcnow

    return (utcnow() - timedelta(days=365)).strftime("%Y-%m-%d")


def expect_rl(server: HTTPServer, email: str, rows: list[dict[str, Any]]) -> None:
    server.expect_request(
        "/v1/rmas",
        method="GET",
        headers={"Authorization": "Bearer rl-token"},
        query_string={"email": email},
    ).respond_with_json(rows)


def expect_shopify_customers(server: HTTPServer, query: str, nodes: list[dict[str, Any]]) -> None:
    def handler(request: Request) -> Response:
        body = json.loads(request.get_data())
        assert request.headers["X-Shopify-Access-Token"] == "shpat_test"
        assert body["variables"] == {"query": query}
        assert "customers(first: 10" in body["query"]
        return Response(
            json.dumps({"data": {"customers": {"edges": [{"node": n} for n in nodes]}}})
        )

    server.expect_request("/admin/api/2025-07/graphql.json", method="POST").respond_with_handler(
        handler
    )


def test_search_all_merges_people_across_systems(
    hub: tuple[TestClient, Database], fakes: dict[str, HTTPServer]
) -> None:
    client, _ = hub
    ledger = create_customer(client, name="Jordan Lee", emails=["jordan.lee@example.com"])
    other = {**LOOP_RETURN, "id": 1, "customer": "someone.else@example.com"}
    expect_loop_returns(fakes["loop"], "jordan.lee@example.com", [LOOP_RETURN, other])
    expect_rl(fakes["returnlogic"], "jordan.lee@example.com", [])
    expect_shopify_customers(
        fakes["shopify"],
        'email:"jordan.lee@example.com"',
        [
            {
                "id": "gid://shopify/Customer/7",
                "displayName": "Jordan Lee",
                "email": "Jordan.Lee@example.com",
                "phone": "+14155550199",
            }
        ],
    )
    response = client.get(
        "/api/v1/search", params={"email": "Jordan.Lee@example.com", "systems": "all"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errors"] == []
    assert sorted(body["searched"]) == ["loop", "returnhub", "returnlogic", "shopify"]
    [row] = body["results"]
    assert sorted(row["systems"]) == ["loop", "returnhub", "shopify"]
    assert row["emails"] == ["jordan.lee@example.com"] or set(row["emails"]) == {
        "jordan.lee@example.com"
    }
    by_system = {m["system"]: m for m in row["matches"]}
    assert by_system["returnhub"]["linked_to"] == ledger["id"]
    assert by_system["loop"]["external_id"] == "jordan.lee@example.com"
    assert by_system["shopify"]["external_id"] == "gid://shopify/Customer/7"
    for server in fakes.values():
        server.check_assertions()


def test_one_broken_and_one_hanging_system_do_not_break_search(
    hub: tuple[TestClient, Database], fakes: dict[str, HTTPServer]
) -> None:
    client, _ = hub
    expect_loop_returns(
        fakes["loop"], "ana@example.com", [{**LOOP_RETURN, "customer": "ana@example.com"}]
    )
    fakes["returnlogic"].expect_request("/v1/rmas").respond_with_data(
        "down for maintenance", status=503
    )

    def hang(request: Request) -> Response:
        time.sleep(2)
        return Response("{}")

    fakes["shopify"].expect_request("/admin/api/2025-07/graphql.json").respond_with_handler(hang)
    started = time.monotonic()
    body = client.get(
        "/api/v1/search", params={"email": "ana@example.com", "systems": "all"}
    ).json()
    elapsed = time.monotonic() - started
    assert elapsed < 1.5  # the 1 s budget, not the 2 s hang
    assert [r["systems"] for r in body["results"]] == [["loop"]]
    errors = {e["system"]: e["error_class"] for e in body["errors"]}
    assert errors == {"returnlogic": "server_error", "shopify": "timeout"}


def test_all_unlinked_needs_a_customer_and_skips_linked_systems(
    hub: tuple[TestClient, Database], fakes: dict[str, HTTPServer]
) -> None:
    client, _ = hub
    missing = client.get("/api/v1/search", params={"email": "x@example.com"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["code"] == "customer_required"
    customer = create_customer(client, emails=["x@example.com"])
    assert (
        client.post(
            f"/api/v1/customers/{customer['id']}/links",
            json={"system": "loop", "external_id": "x@example.com"},
        ).status_code
        == 201
    )
    expect_rl(fakes["returnlogic"], "x@example.com", [])
    expect_shopify_customers(fakes["shopify"], 'email:"x@example.com"', [])
    body = client.get(
        "/api/v1/search", params={"email": "x@example.com", "customer_id": customer["id"]}
    ).json()
    assert sorted(body["searched"]) == ["returnlogic", "shopify"]
    bad = client.get("/api/v1/search", params={"email": "x@example.com", "systems": "loop,acme"})
    assert bad.status_code == 422


def test_order_number_goes_only_to_systems_that_search_orders(
    hub: tuple[TestClient, Database], fakes: dict[str, HTTPServer]
) -> None:
    client, _ = hub
    fakes["loop"].expect_request(
        "/api/v1/warehouse/return/details", query_string={"order_name": "#90507"}
    ).respond_with_json(LOOP_RETURN)

    def orders(request: Request) -> Response:
        body = json.loads(request.get_data())
        assert body["variables"] == {"query": 'name:"#90507"'}
        nodes = [
            {
                "id": "gid://shopify/Order/1",
                "name": "#90507",
                "closed": False,
                "customer": {
                    "id": "gid://shopify/Customer/7",
                    "displayName": "Jordan Lee",
                    "email": "jordan.lee@example.com",
                    "phone": None,
                },
            },
            {
                "id": "gid://shopify/Order/2",
                "name": "#90507",
                "closed": True,
                "customer": {
                    "id": "gid://shopify/Customer/8",
                    "displayName": "Archived",
                    "email": "old@example.com",
                    "phone": None,
                },
            },
        ]
        return Response(json.dumps({"data": {"orders": {"edges": [{"node": n} for n in nodes]}}}))

    fakes["shopify"].expect_request("/admin/api/2025-07/graphql.json").respond_with_handler(orders)
    body = client.get("/api/v1/search", params={"order_number": "90507", "systems": "all"}).json()
    assert sorted(body["searched"]) == ["loop", "returnhub", "shopify"]  # not returnlogic
    [row] = body["results"]
    assert sorted(row["systems"]) == ["loop", "shopify"]


def test_manual_link_unlink_and_audit(
    hub: tuple[TestClient, Database], fakes: dict[str, HTTPServer], db: Database
) -> None:
    client, database = hub
    customer = create_customer(client, emails=["jordan.lee@example.com"])
    other = create_customer(client)
    url = f"/api/v1/customers/{customer['id']}/links"
    created = client.post(url, json={"system": "loop", "external_id": "jordan.lee@example.com"})
    assert created.status_code == 201
    assert [(k["system"], k["how"], k["linked_by"]) for k in created.json()["links"]] == [
        ("loop", "manual", "demo")
    ]
    clash = client.post(
        f"/api/v1/customers/{other['id']}/links",
        json={"system": "loop", "external_id": "jordan.lee@example.com"},
    )
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["customer_id"] == customer["id"]
    assert client.post(url, json={"system": "acme", "external_id": "1"}).status_code == 422

    # Linking queued a pull; the worker fetches the returns into the cache.
    expect_loop_returns(fakes["loop"], "jordan.lee@example.com", [LOOP_RETURN])
    Worker(database, database.settings, concurrency=1).drain()  # type: ignore[arg-type]
    pulled = client.get(f"/api/v1/customers/{customer['id']}/linked-returns").json()["data"]
    assert [(p["system"], p["external_id"], p["state"], p["order_name"]) for p in pulled] == [
        ("loop", "8815306", "authorized", "#90507")
    ]

    unlinked = client.delete(url)
    assert unlinked.status_code == 200
    body = unlinked.json()
    assert body["links"] == [] and body["ever_unlinked"] is True
    assert [(a["action"], a["system"]) for a in body["audit"]] == [
        ("link", "loop"),
        ("unlink", "loop"),
    ]
    assert client.get(f"/api/v1/customers/{customer['id']}/linked-returns").json()["data"] == []


def test_connectors_list(hub: tuple[TestClient, Database]) -> None:
    client, _ = hub
    data = {c["key"]: c for c in client.get("/api/v1/connectors").json()["data"]}
    assert set(data) == {"returnhub", "loop", "returnlogic", "shopify"}
    assert data["loop"]["configured"] is True
    assert data["loop"]["webhook_url"] == "http://127.0.0.1:8000/webhooks/loop"
    assert "pull_returns" in data["loop"]["capabilities"]


def test_unconfigured_connector_names_missing_settings(client: TestClient) -> None:
    data = {c["key"]: c for c in client.get("/api/v1/connectors").json()["data"]}
    assert data["shopify"]["configured"] is False
    assert data["shopify"]["missing_settings"] == [
        "RETURNHUB_SHOPIFY_BASE_URL",
        "RETURNHUB_SHOPIFY_ACCESS_TOKEN",
    ]


def test_auto_link_links_unique_matches_only(
    connected: Settings, db: Database, clock: Clock, fakes: dict[str, HTTPServer]
) -> None:
    settings = connected.model_copy(update={"auto_link_enabled": True})
    database = Database(db.engine, settings)
    app = create_app(settings, database, clock, worker=False)
    with TestClient(app, headers=AUTH) as client:
        customer = create_customer(
            client,
            emails=["jordan.lee@example.com"],
            phones=[{"number": "+14155550199", "type": "MOBILE"}],
        )
        expect_loop_returns(fakes["loop"], "jordan.lee@example.com", [LOOP_RETURN])
        expect_rl(fakes["returnlogic"], "jordan.lee@example.com", [])
        two = [
            {
                "id": "gid://shopify/Customer/7",
                "displayName": "J",
                "email": "jordan.lee@example.com",
                "phone": None,
            },
            {
                "id": "gid://shopify/Customer/9",
                "displayName": "J2",
                "email": None,
                "phone": "+14155550199",
            },
        ]
        expect_shopify_customers(
            fakes["shopify"], 'email:"jordan.lee@example.com" OR phone:"+14155550199"', two
        )
        worker = Worker(database, settings, concurrency=1)
        worker.drain()
        links = client.get(f"/api/v1/customers/{customer['id']}/links").json()
        # Loop had one profile: linked. Shopify had two candidates: nobody is linked.
        assert [(k["system"], k["how"], k["linked_by"]) for k in links["links"]] == [
            ("loop", "auto", "auto-link")
        ]
        # Unlinked once: never auto-linked again, even when contacts change.
        client.delete(f"/api/v1/customers/{customer['id']}/links")
        client.patch(
            f"/api/v1/customers/{customer['id']}",
            json={"emails": ["jordan.lee@example.com", "j2@example.com"]},
        )
        worker.drain()
        assert client.get(f"/api/v1/customers/{customer['id']}/links").json()["links"] == []
        worker.close()


def test_cli_connectors_check(tmp_path: Path, fakes: dict[str, HTTPServer]) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env.update(
        {
            "RETURNHUB_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
            "RETURNHUB_LOOP_API_KEY": "loop-key",
            "RETURNHUB_LOOP_BASE_URL": fakes["loop"].url_for("/api/v1"),
            "RETURNHUB_RETURNLOGIC_API_KEY": "rl-token",
            "RETURNHUB_RETURNLOGIC_BASE_URL": fakes["returnlogic"].url_for("/v1"),
        }
    )
    probe = "returnhub-connectivity-check@example.invalid"
    expect_loop_returns(fakes["loop"], probe, [])
    fakes["returnlogic"].expect_request("/v1/rmas").respond_with_data("nope", status=401)
    cli = [sys.executable, "-m", "returnhub.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    listed = subprocess.run(
        [*cli, "connectors", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert (
        "shopify\tShopify\tmissing RETURNHUB_SHOPIFY_BASE_URL, RETURNHUB_SHOPIFY_ACCESS_TOKEN"
        in listed.stdout
    )
    checked = subprocess.run(
        [*cli, "connectors", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 1
    lines = dict(line.split("\t", 1) for line in checked.stdout.strip().splitlines())
    assert lines["loop"].startswith("ok")
    assert lines["returnhub"].startswith("ok")
    assert lines["returnlogic"].startswith("FAILED\tconfiguration: 401")


def test_gladly_detailed_lookup_refreshes_linked_systems_in_the_background(
    connected: Settings, db: Database, clock: Clock
) -> None:
    from tests.test_gladly_lookup import KEY, LOOKUP, signed_post

    settings = connected.model_copy(update={"gladly_signing_key": SecretStr(KEY)})
    database = Database(db.engine, settings)
    app = create_app(settings, database, clock, worker=False)
    with TestClient(app, headers=AUTH) as client:
        customer = create_customer(client, emails=["jordan.lee@example.com"])
        client.post(
            f"/api/v1/customers/{customer['id']}/links",
            json={"system": "loop", "external_id": "jordan.lee@example.com"},
        )
        query = {
            "lookupLevel": "DETAILED",
            "query": {"externalCustomerId": customer["id"]},
            "uniqueMatchRequired": True,
        }
        for _ in range(3):
            assert signed_post(client, LOOKUP, query).status_code == 200
        jobs = client.get("/api/v1/outbox", params={"kind": "links.pull"}).json()["data"]
        # One pull queued by linking, one by the first profile view; later views in the same
        # five minutes add nothing.
        assert len(jobs) == 2
