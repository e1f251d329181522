"""Every captured payload under tests/fixtures/<system>/ (each from a public source named in the
README beside it) replayed through the real HTTP intake, and its effect on the ledger asserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import Return
from tests.conftest import Clock
from tests.factories import post_hmac_signed
from tests.test_sync_fidelity import (
    FakeLoop,
    drain_all,
    fates,
    held,
    link_customer,
    loop_api_settings,
    post_generic,
    post_loop,
    post_returnlogic,
    pulled_of,
    running_hub,
)
from tests.test_webhooks_shopify import SECRET as SHOPIFY_SECRET
from tests.test_webhooks_shopify import TOKEN as SHOPIFY_TOKEN
from tests.test_webhooks_shopify import FakeShopify

FIXTURES = Path(__file__).parent / "fixtures"
LOOP_1, LOOP_2, LOOP_3 = "48113920", "48120377", "48127790"


def fixture(system: str, name: str) -> Any:
    return json.loads((FIXTURES / system / name).read_text())


@pytest.fixture
def hub(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer
) -> Iterator[tuple[TestClient, Worker]]:
    with running_hub(
        settings,
        db,
        clock,
        shopify_webhook_secret=SecretStr(SHOPIFY_SECRET),
        shopify_access_token=SecretStr(SHOPIFY_TOKEN),
        shopify_base_url=httpserver.url_for("/"),
        outbound_timeout_seconds=2.0,
        auto_link_enabled=False,
    ) as running:
        yield running


def replay_loop(
    client: TestClient, worker: Worker, db: Database, clock: Clock, *names: str
) -> None:
    """Post the fixtures in order, then run every job (a label that overtook its return on
    another worker thread waits for it)."""
    for name in names:
        assert post_loop(client, fixture("loop", name)).status_code == 202
    drain_all(db, worker, clock)


def items(client: TestClient, ret: Return) -> list[tuple[str, int, str]]:
    detail = client.get(f"/api/v1/returns/{ret.public_id}").json()
    return [(i["sku"], i["quantity"], i["outcome"]) for i in detail["items"]]


LOOP_LIFE = [
    "real_return_created.json",
    "real_label_created.json",
    "real_return_updated_in_transit.json",
    "real_label_updated_delivered.json",
    "real_return_closed.json",
]


@pytest.mark.parametrize("order", [LOOP_LIFE, LOOP_LIFE[::-1]], ids=["in-order", "reversed"])
def test_loop_return_life(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock, order: list[str]
) -> None:
    client, worker = hub
    replay_loop(client, worker, db, clock, *order)
    ret = held(db, LOOP_1)
    assert ret is not None
    assert (ret.state, ret.label_status, ret.refund_amount, ret.refund_state) == (
        "closed",
        "delivered",
        12990,
        "issued",
    )
    assert ret.label_tracking_number == "9400111206213859447016"
    assert sorted(items(client, ret)) == [
        ("LNN-SHRT-OAT-M", 2, "refund"),
        ("WOOL-SCRF-RST", 1, "exchange"),
    ]
    customer = client.get(
        f"/api/v1/customers/{client.get(f'/api/v1/returns/{ret.public_id}').json()['customer_id']}"
    ).json()
    assert customer["emails"] == ["mara.okafor@example.com"]
    assert all(status == "applied" for _, status, _ in fates(client))


def test_loop_in_transit_follows_the_label(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock
) -> None:
    client, worker = hub
    replay_loop(
        client, worker, db, clock, "real_return_created.json", "real_return_updated_in_transit.json"
    )
    ret = held(db, LOOP_1)
    assert ret is not None and (ret.state, ret.label_status) == ("in_transit", "in_transit")


@pytest.mark.parametrize(
    ("name", "rid", "state"),
    [
        ("real_return_cancelled.json", LOOP_2, "cancelled"),
        ("real_return_expired.json", LOOP_2, "expired"),
        ("real_return_review.json", LOOP_3, "flagged"),
        ("real_return_created_string_ids.json", "48131056", "authorized"),
    ],
)
def test_loop_states(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock, name: str, rid: str, state: str
) -> None:
    client, worker = hub
    replay_loop(client, worker, db, clock, name)
    ret = held(db, rid)
    assert ret is not None and ret.state == state


def test_loop_body_with_php_escaped_slashes(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    raw = (FIXTURES / "loop" / "real_return_created_php_escaped.raw").read_bytes()
    assert b"\\/" in raw  # the signature is over these exact bytes
    assert post_loop(client, raw).status_code == 202
    worker.drain()
    ret = held(db, "48135502")
    assert ret is not None
    assert ret.status_page_url.startswith("https://") and "\\" not in ret.status_page_url


def test_loop_details_settle_an_undecidable_event(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer
) -> None:
    loop_api = FakeLoop(httpserver)
    loop_api.present[LOOP_1] = fixture("loop", "real_return_details.json")
    with running_hub(settings, db, clock, **loop_api_settings(httpserver)) as (client, worker):
        # The close arrives first; the create after it cannot be ordered by its payload.
        replay_loop(
            client, worker, db, clock, "real_return_closed.json", "real_return_created.json"
        )
        assert fates(client)[-1][1:] == ("applied", "unchanged")
    httpserver.check_assertions()
    assert loop_api.asked == [LOOP_1]
    ret = held(db, LOOP_1)
    assert ret is not None and ret.state == "closed"


# --- Shopify ---------------------------------------------------------------------------------

SHOPIFY_GID = "gid://shopify/Return/11830427753"


def post_shopify(client: TestClient, topic: str, name: str, delivery: str) -> Any:
    return post_hmac_signed(
        client,
        "/webhooks/shopify",
        (FIXTURES / "shopify" / name).read_bytes(),
        header="X-Shopify-Hmac-Sha256",
        secret=SHOPIFY_SECRET,
        headers={"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": delivery},
    )


@pytest.mark.parametrize(
    ("topic", "name", "answer", "state", "refund_state"),
    [
        (
            "returns/request",
            "returns_request.json",
            "graphql_return_requested",
            "requested",
            "pending",
        ),
        ("returns/approve", "returns_approve.json", "graphql_return_open", "authorized", "pending"),
        ("returns/decline", "returns_decline.json", "graphql_return_declined", "rejected", "void"),
        (
            "returns/close",
            "returns_close.json",
            "graphql_return_closed_refunded",
            "closed",
            "issued",
        ),
        ("returns/reopen", "returns_reopen.json", "graphql_return_open", "authorized", "pending"),
        (
            "refunds/create",
            "refunds_create.json",
            "graphql_return_closed_refunded",
            "closed",
            "issued",
        ),
    ],
)
def test_shopify_topics(
    hub: tuple[TestClient, Worker],
    db: Database,
    httpserver: HTTPServer,
    topic: str,
    name: str,
    answer: str,
    state: str,
    refund_state: str,
) -> None:
    client, worker = hub
    shop = FakeShopify(httpserver)
    shop.returns[SHOPIFY_GID] = fixture("shopify", f"{answer}.json")["data"]["return"]
    assert post_shopify(client, topic, name, "d-1").status_code == 202
    worker.drain()
    assert shop.pulls == [SHOPIFY_GID]
    ret = held(db, SHOPIFY_GID, "shopify")
    assert ret is not None and (ret.state, ret.refund_state) == (state, refund_state)
    assert sorted(items(client, ret)) == [
        ("LNN-SHRT-OAT-M", 2, "refund"),
        ("WOOL-SCRF-RST", 1, "refund"),
    ]


def test_shopify_refund_of_the_order_alone_changes_no_return(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    body = {**fixture("shopify", "refunds_create.json"), "return": None}
    response = post_hmac_signed(
        client,
        "/webhooks/shopify",
        json.dumps(body).encode(),
        header="X-Shopify-Hmac-Sha256",
        secret=SHOPIFY_SECRET,
        headers={"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": "d-2"},
    )
    assert response.status_code == 202
    worker.drain()
    assert fates(client)[-1][1] == "ignored" and "names no return" in fates(client)[-1][2]
    with db.read() as session:
        assert session.scalars(select(Return)).all() == []


# --- ReturnLogic and generic -----------------------------------------------------------------


def test_returnlogic_rma_life(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    states = []
    for name in ("rma_created.json", "rma_updated_received.json", "rma_deleted.json"):
        assert post_returnlogic(client, fixture("returnlogic", name)).status_code == 202
        worker.drain()
        ret = held(db, "2719043", "returnlogic")
        assert ret is not None
        states.append(ret.state)
    assert states == ["requested", "received", "cancelled"]


def test_generic_return_life(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    for n, name in enumerate(("return_upsert_closed.json", "return_upsert_requested.json")):
        data = fixture("generic", name)["data"]
        assert post_generic(client, data, f"msg_{n}").status_code == 202
        worker.drain()
    ret = held(db, "RET-90640-1", "generic")
    assert ret is not None and (ret.state, ret.refund_amount) == ("closed", 12990)
    assert sorted(items(client, ret)) == [
        ("LNN-SHRT-OAT-M", 2, "refund"),
        ("WOOL-SCRF-RST", 1, "exchange"),
    ]


def test_refresh_after_shopify_by_its_customer_gid(
    hub: tuple[TestClient, Worker], db: Database, httpserver: HTTPServer
) -> None:
    """A customer linked to the Shopify profile (a Customer gid, not an email) sees the return
    in their linked data as soon as the webhook is applied."""
    client, worker = hub
    linked = link_customer(db, "shopify", "gid://shopify/Customer/7390218420329")
    shop = FakeShopify(httpserver)
    shop.returns[SHOPIFY_GID] = fixture("shopify", "graphql_return_open.json")["data"]["return"]
    assert post_shopify(client, "returns/approve", "returns_approve.json", "d-9").status_code == 202
    worker.drain()
    assert pulled_of(db, linked) == [("shopify", SHOPIFY_GID, "authorized")]
