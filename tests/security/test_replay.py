"""Signed requests cannot be replayed for effect: Gladly's go stale, Shopify's count once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from returnhub.api.app import create_app
from returnhub.connectors.gladly import signing
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent
from tests.conftest import Clock
from tests.factories import post_hmac_signed
from tests.test_gladly_lookup import KEY, LOOKUP

# connected, fake and unconfigured are Shopify's fixtures, reused (pytest finds them by name).
from tests.test_webhooks_shopify import (  # noqa: F401
    GID,
    SECRET,
    FakeShopify,
    connected,
    fake,
    hub_for,
    unconfigured,
)

LOOKUP_BODY = json.dumps(
    {
        "lookupLevel": "BASIC",
        "query": {"emails": ["nobody@example.com"]},
        "uniqueMatchRequired": True,
    },
    separators=(",", ":"),
).encode()


@pytest.fixture
def gladly(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    # Only the signing key: the freshness window is the default one.
    configured = settings.model_copy(update={"gladly_signing_key": SecretStr(KEY)})
    with TestClient(create_app(configured, db, clock, worker=False)) as client:
        yield client


def _signed_at(sent: datetime) -> dict[str, str]:
    stamp = sent.strftime(signing.TIME_FORMAT)
    headers = {"content-type": "application/json", "gladly-correlation-id": "replayed"}
    auth = signing.sign_headers(KEY, "POST", LOOKUP, "", headers, LOOKUP_BODY, stamp)
    return {**headers, "gladly-time": stamp, "gladly-authorization": auth}


def test_a_captured_gladly_request_is_refused_later(gladly: TestClient) -> None:
    captured = _signed_at(datetime.now(UTC) - timedelta(minutes=10))
    replayed = gladly.post(LOOKUP, content=LOOKUP_BODY, headers=captured)
    assert replayed.status_code == 401
    assert replayed.json()["errors"][0]["detail"].startswith("Gladly-Time is 6")


@pytest.mark.parametrize("age", [timedelta(0), timedelta(seconds=90), timedelta(seconds=-60)])
def test_gladly_retries_and_a_skewed_clock_fit_the_window(
    gladly: TestClient, age: timedelta
) -> None:
    fresh = gladly.post(LOOKUP, content=LOOKUP_BODY, headers=_signed_at(datetime.now(UTC) - age))
    assert fresh.status_code == 200, fresh.text


def test_the_window_is_a_default_and_documented() -> None:
    assert Settings(_env_file=None).gladly_signature_max_age_seconds == 300


@pytest.fixture
def shopify_hub(
    connected: Settings,  # noqa: F811
    db: Database,
    clock: Clock,
    fake: FakeShopify,  # noqa: F811
) -> Iterator[tuple[TestClient, Worker]]:
    client, worker = hub_for(connected, db, clock)
    with client:
        yield client, worker
    worker.close()


def _shopify(client: TestClient, body: bytes, topic: str, webhook_id: str) -> int:
    response = post_hmac_signed(
        client,
        "/webhooks/shopify",
        body,
        header="X-Shopify-Hmac-Sha256",
        secret=SECRET,
        headers={"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id},
    )
    status: int = response.status_code
    return status


def _inbox_rows(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(InboxEvent)) or 0)


def test_a_shopify_body_replayed_under_new_ids_and_topics_counts_once(
    shopify_hub: tuple[TestClient, Worker],
    db: Database,
    fake: FakeShopify,  # noqa: F811
) -> None:
    client, worker = shopify_hub
    fake.set("OPEN")
    body = json.dumps({"id": 9001, "admin_graphql_api_id": GID, "status": "open"}).encode()
    # Given a genuine delivery, waiting to be applied
    assert _shopify(client, body, "returns/approve", "genuine-1") == 202
    # When its signed body comes again under made-up ids and other topics (neither is signed)
    replays = [
        _shopify(client, body, topic, f"forged-{n}")
        for n, topic in enumerate(["returns/approve", "returns/close", "refunds/create"] * 5)
    ]
    # Then each is the same event: one row, one pull of the return
    assert replays == [200] * 15
    worker.drain()
    assert _inbox_rows(db) == 1
    assert fake.pulls == [GID]


def test_an_identical_shopify_body_after_the_first_was_applied_is_not_lost(
    shopify_hub: tuple[TestClient, Worker],
    db: Database,
    fake: FakeShopify,  # noqa: F811
) -> None:
    # A return reopened twice sends the same body twice; the second must still pull.
    client, worker = shopify_hub
    fake.set("OPEN")
    body = json.dumps({"id": 9001, "admin_graphql_api_id": GID, "status": "open"}).encode()
    assert _shopify(client, body, "returns/reopen", "reopen-1") == 202
    worker.drain()
    fake.set("CLOSED")
    assert _shopify(client, body, "returns/reopen", "reopen-2") == 202
    worker.drain()
    assert _inbox_rows(db) == 2
    assert fake.pulls == [GID, GID]
