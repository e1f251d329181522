"""Gladly timeline activity: a CUSTOMER_ACTIVITY per return change, against a strict fake Gladly."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from returnhub.api.app import create_app
from returnhub.connectors.errors import RateLimited
from returnhub.connectors.gladly.client import GladlyClient, api_root
from returnhub.connectors.ratelimit import TokenBucket, shared_bucket
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import DomainEvent
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order, create_return

USER, TOKEN = "api@merchant.example", "tok"
BASIC = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
ITEMS = "/api/v1/conversation-items"
HUB_URL = "https://hub.merchant.example"


class FakeGladly:
    """Strict: every expected request must arrive, in order, exactly as described (method,
    path, Basic auth, JSON body); any other request fails the test."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.expected = 0

    def expect_item(
        self,
        body: dict[str, Any],
        *,
        status: int = 200,
        answer: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.server.expect_ordered_request(
            ITEMS,
            method="POST",
            headers={"Authorization": BASIC, "Content-Type": "application/json"},
            json=body,
        ).respond_with_json(
            answer if answer is not None else {"id": body["id"], "customerId": "gladly-cus-1"},
            status=status,
            headers=headers,
        )
        self.expected += 1

    def verify(self) -> None:
        self.server.check_assertions()  # no unexpected request
        self.server.check_handler_errors()
        assert self.server.ordered_handlers == [], "an expected Gladly request was not made"
        assert len(self.server.log) == self.expected


@dataclass
class Hub:
    client: TestClient
    worker: Worker
    db: Database
    gladly: FakeGladly

    def jobs(self) -> list[dict[str, Any]]:
        response = self.client.get("/api/v1/outbox", params={"kind": "gladly.activity"})
        return list(reversed(response.json()["data"]))

    def health(self) -> dict[str, Any]:
        rows = self.client.get("/api/v1/connectors/health").json()["data"]
        [row] = [r for r in rows if r["connector"] == "gladly"]
        return dict(row)

    def activity(
        self, ret: dict[str, Any], customer: dict[str, str], title: str, body: str
    ) -> dict[str, Any]:
        """The exact request Gladly must receive for the newest activity job."""
        event_id = self.jobs()[-1]["payload"]["event_id"]
        with self.db.read() as session:
            event = session.scalars(select(DomainEvent).where(DomainEvent.public_id == event_id))
            occurred = event.one().occurred_at.astimezone(UTC)
        return {
            "id": f"returnhub-{event_id}",
            "customer": customer,
            "content": {
                "type": "CUSTOMER_ACTIVITY",
                "title": title,
                "body": body,
                "activityType": "ISSUE",
                "sourceName": "returnhub",
                "link": {
                    "url": f"{HUB_URL}/agent/returns/{ret['id']}",
                    "text": "Open in returnhub",
                },
                "occurredAt": occurred.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            },
        }


@pytest.fixture
def make_hub(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer
) -> Iterator[Callable[..., Hub]]:
    """A hub whose settings turn Gladly activity on (override any of them); ``db`` empties the
    tables, but its sessions carry the default settings, so the hub gets its own Database."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> Hub:
            values: dict[str, Any] = {
                "mode": "demo",
                "database_url": settings.database_url,
                "embedded_worker": False,
                "base_url": HUB_URL,
                "gladly_activity_enabled": True,
                "gladly_base_url": httpserver.url_for(""),
                "gladly_api_user": USER,
                "gladly_api_token": TOKEN,
                **overrides,
            }
            hub_settings = Settings(**values)
            hub_db = Database.from_settings(hub_settings)
            stack.callback(hub_db.dispose)
            worker = Worker(hub_db, hub_settings, clock=clock)
            stack.callback(worker.close)
            app = create_app(hub_settings, hub_db, clock, worker=False)
            client = stack.enter_context(
                TestClient(app, headers=AUTH, raise_server_exceptions=False)
            )
            return Hub(client, worker, hub_db, FakeGladly(httpserver))

        yield make


ITEMS_HTML = (
    "<ul><li>1 \N{MULTIPLICATION SIGN} Rain Jacket (Navy / M): refund (Too small)</li></ul>"
)
REFUND_HTML = "<p>Refund: $129.00 to original payment (pending)</p>"
REQUESTED_BODY = "<p>Order {order}</p>" + ITEMS_HTML + REFUND_HTML


def test_each_return_change_posts_one_activity(make_hub: Callable[..., Hub], clock: Clock) -> None:
    hub = make_hub()
    customer = create_customer(hub.client)
    email = {"emailAddress": customer["emails"][0]}
    order = create_order(hub.client, clock.now, customer["id"])
    ret = create_return(hub.client, order)
    hub.gladly.expect_item(
        hub.activity(
            ret,
            email,
            f"Return {ret['number']} requested",
            REQUESTED_BODY.format(order=order["name"]),
        )
    )
    assert hub.worker.drain() == 1

    hub.client.post(f"/api/v1/returns/{ret['id']}/authorize")
    hub.gladly.expect_item(
        hub.activity(
            ret,
            email,
            f"Return {ret['number']} is now authorized",
            f"<p>Order {order['name']}: requested → authorized</p>" + ITEMS_HTML + REFUND_HTML,
        )
    )
    assert hub.worker.drain() == 1

    label = {"carrier": "UPS", "tracking_number": "1Z999AA10123456784", "status": "in_transit"}
    hub.client.post(f"/api/v1/returns/{ret['id']}/ship", json={"label": label})
    hub.gladly.expect_item(
        hub.activity(
            ret,
            email,
            f"Return {ret['number']} is now in transit",
            f"<p>Order {order['name']}: authorized → in transit</p>"
            + ITEMS_HTML
            + REFUND_HTML
            + "<p>Tracking: UPS 1Z999AA10123456784 (in_transit)</p>",
        )
    )
    assert hub.worker.drain() == 1
    hub.gladly.verify()
    # Only the return's own events became activities (not customer.created or order.created).
    jobs = hub.jobs()
    assert [(j["status"], j["connector"], j["lock_key"]) for j in jobs] == [
        ("succeeded", "gladly", f"gladly:{ret['id']}")
    ] * 3
    assert [j["dedupe_key"] for j in jobs] == [
        f"gladly-activity:{j['payload']['event_id']}" for j in jobs
    ]
    health = hub.health()
    assert (health["healthy"], health["successes"], health["failures"]) == (True, 3, 0)


def test_disabled_enqueues_and_sends_nothing(make_hub: Callable[..., Hub], clock: Clock) -> None:
    hub = make_hub(gladly_activity_enabled=False)
    ret = create_return(hub.client, create_order(hub.client, clock.now))
    hub.client.post(f"/api/v1/returns/{ret['id']}/authorize")
    hub.worker.drain()
    assert hub.jobs() == []
    hub.gladly.verify()


def test_rate_limited_waits_for_retry_after_then_posts(
    make_hub: Callable[..., Hub], clock: Clock
) -> None:
    hub = make_hub()
    customer = create_customer(hub.client)
    order = create_order(hub.client, clock.now, customer["id"])
    ret = create_return(hub.client, order)
    expected = hub.activity(
        ret,
        {"emailAddress": customer["emails"][0]},
        f"Return {ret['number']} requested",
        REQUESTED_BODY.format(order=order["name"]),
    )
    hub.gladly.expect_item(
        expected,
        status=429,
        answer={"errors": [{"code": "too_many_requests", "detail": "rate limit exceeded"}]},
        headers={"Retry-After": "30", "Ratelimit-Remaining-Second": "0"},
    )
    hub.gladly.expect_item(expected)
    failed_at = clock.now
    hub.worker.drain()
    [job] = hub.jobs()
    assert (job["status"], job["error_class"], job["attempts"]) == ("pending", "rate_limited", 1)
    next_at = datetime.fromisoformat(job["next_attempt_at"])
    assert next_at >= failed_at + timedelta(seconds=30)

    clock.advance(seconds=29)
    assert hub.worker.drain() == 0  # not before Retry-After
    clock.now = next_at
    assert hub.worker.drain() == 1
    [job] = hub.jobs()
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
    hub.gladly.verify()
    health = hub.health()
    assert (health["healthy"], health["successes"], health["failures"]) == (True, 1, 1)


def test_refused_credentials_park_the_job_and_mark_gladly_unhealthy(
    make_hub: Callable[..., Hub], clock: Clock
) -> None:
    hub = make_hub()
    customer = create_customer(hub.client)
    order = create_order(hub.client, clock.now, customer["id"])
    ret = create_return(hub.client, order)
    hub.gladly.expect_item(
        hub.activity(
            ret,
            {"emailAddress": customer["emails"][0]},
            f"Return {ret['number']} requested",
            REQUESTED_BODY.format(order=order["name"]),
        ),
        status=401,
        answer={"errors": [{"code": "unauthorized"}]},
    )
    hub.worker.drain()
    [job] = hub.jobs()
    assert (job["status"], job["error_class"], job["attempts"]) == ("dead", "configuration", 1)
    health = hub.health()
    assert health["healthy"] is False
    assert health["last_error"].startswith("configuration: Gladly refused our credentials: is")
    assert "RETURNHUB_GLADLY_API_TOKEN" in health["last_error"]
    assert "(401: the receiver refused our credentials: " in health["last_error"]
    hub.gladly.verify()


def test_item_already_in_gladly_counts_as_delivered(
    make_hub: Callable[..., Hub], clock: Clock
) -> None:
    hub = make_hub()
    customer = create_customer(hub.client)
    order = create_order(hub.client, clock.now, customer["id"])
    ret = create_return(hub.client, order)
    hub.gladly.expect_item(
        hub.activity(
            ret,
            {"emailAddress": customer["emails"][0]},
            f"Return {ret['number']} requested",
            REQUESTED_BODY.format(order=order["name"]),
        ),
        status=409,
        answer={
            "errors": [
                {
                    "attr": "newConversationItems",
                    "code": "taken",
                    "detail": "conversation item already exists",
                }
            ]
        },
    )
    hub.worker.drain()
    [job] = hub.jobs()
    assert (job["status"], job["error_class"]) == ("succeeded", "")
    hub.gladly.verify()
    assert hub.health()["successes"] == 1


@pytest.mark.parametrize(
    ("phones", "gladly_customer"),
    [
        pytest.param([{"number": "+14155550100", "type": "HOME"}], None, id="home-phone-only"),
        pytest.param(
            [
                {"number": "+14155550100", "type": "HOME"},
                {"number": "+14155550123", "type": "MOBILE"},
            ],
            {"mobilePhone": "+14155550123"},
            id="mobile-after-home",
        ),
    ],
)
def test_without_email_the_mobile_phone_identifies_the_customer(
    make_hub: Callable[..., Hub],
    clock: Clock,
    phones: list[dict[str, str]],
    gladly_customer: dict[str, str] | None,
) -> None:
    hub = make_hub()
    customer = create_customer(hub.client, emails=[], phones=phones)
    order = create_order(hub.client, clock.now, customer["id"])
    ret = create_return(hub.client, order)
    if gladly_customer is not None:
        hub.gladly.expect_item(
            hub.activity(
                ret,
                gladly_customer,
                f"Return {ret['number']} requested",
                REQUESTED_BODY.format(order=order["name"]),
            )
        )
    hub.worker.drain()
    [job] = hub.jobs()
    # A customer Gladly cannot find is not an error to retry: the job is done, nothing sent.
    assert job["status"] == "succeeded"
    hub.gladly.verify()


def test_missing_configuration_names_the_variables(
    make_hub: Callable[..., Hub], clock: Clock
) -> None:
    hub = make_hub(gladly_base_url="", gladly_api_token="")
    create_return(hub.client, create_order(hub.client, clock.now))
    hub.worker.drain()
    [job] = hub.jobs()
    assert (job["status"], job["error_class"]) == ("dead", "configuration")
    assert job["last_error"].endswith(
        "missing: RETURNHUB_GLADLY_BASE_URL, RETURNHUB_GLADLY_API_TOKEN"
    )
    assert hub.health()["healthy"] is False
    hub.gladly.verify()


# --- The client on its own -------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "https://acme.gladly.com",
        "https://acme.gladly.com/",
        "https://acme.gladly.com/api/v1",
        " https://acme.gladly.com/api/v1/ ",
    ],
)
def test_base_url_may_include_the_api_path(base_url: str) -> None:
    assert api_root(base_url) == "https://acme.gladly.com"


def test_saturated_limiter_gives_the_job_back_without_calling(httpserver: HTTPServer) -> None:
    bucket = TokenBucket(rate=1, burst=1, clock=lambda: 0.0)
    assert bucket.acquire()
    with httpx.Client() as http:
        client = GladlyClient(
            httpserver.url_for(""), USER, TOKEN, http, bucket, acquire_timeout=0.5
        )
        with pytest.raises(RateLimited) as raised:
            client.create_conversation_item(
                {"emailAddress": "ada@example.com"},
                item_id="returnhub-evt_0123456789abcdef",
                title="t",
                body="b",
                activity_type="ISSUE",
                source_name="returnhub",
                link_url="https://hub.example/agent/returns/ret_1",
                link_text="Open in returnhub",
            )
    assert raised.value.retry_after == 1.0
    assert httpserver.log == []
    httpserver.check_assertions()


# --- The token bucket ------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_burst_is_immediate_then_one_token_per_interval() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=10, burst=3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        assert bucket.acquire()
    assert time.sleeps == []
    assert bucket.acquire()
    assert time.sleeps == [pytest.approx(0.1)]
    assert bucket.acquire()
    assert time.sleeps == [pytest.approx(0.1)] * 2


def test_an_idle_bucket_refills_up_to_its_burst_only() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=10, burst=3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        bucket.acquire()
    time.now += 60
    for _ in range(3):
        assert bucket.acquire()
    assert time.sleeps == []
    bucket.acquire()
    assert time.sleeps == [pytest.approx(0.1)]


def test_acquire_gives_up_when_the_wait_exceeds_the_timeout() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=2, burst=1, clock=time.clock, sleep=time.sleep)
    assert bucket.acquire(timeout=0)
    assert bucket.acquire(timeout=0.4) is False  # the next token is 0.5 s away
    assert time.sleeps == []
    assert bucket.acquire(timeout=0.5)  # nothing was taken by the refusal
    assert time.sleeps == [pytest.approx(0.5)]


def test_concurrent_callers_each_get_their_own_slot() -> None:
    now = 100.0
    sleeps: list[float] = []
    bucket = TokenBucket(rate=10, burst=1, clock=lambda: now, sleep=sleeps.append)
    start = threading.Barrier(10)

    def take() -> None:
        start.wait()
        bucket.acquire()

    threads = [threading.Thread(target=take) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Time stands still: one caller goes at once, the others queue 0.1 s apart.
    assert sorted(sleeps) == pytest.approx([0.1 * n for n in range(1, 10)])


def test_shared_buckets_are_one_per_key_and_rate() -> None:
    first = shared_bucket("test:shared", 10)
    assert shared_bucket("test:shared", 10) is first
    assert shared_bucket("test:other", 10) is not first
    assert shared_bucket("test:shared", 5).rate == 5
