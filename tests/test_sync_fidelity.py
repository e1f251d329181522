"""The returns sync on the real systems' own terms, end to end through the HTTP intake: events
ordered by the fields each source really sends, undecidable events settled by the source's
present state, a sender confined to its own returns, a return attached only to its own
customer's order, future stamps refused, linked customers refreshed after every source."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select, text
from standardwebhooks import Webhook
from werkzeug import Request, Response

from returnhub.api.app import create_app
from returnhub.connectors.registry import SPECS
from returnhub.delivery.worker import Worker
from returnhub.domain.external import ExternalItem, ExternalReturn
from returnhub.domain.lifecycle import ReturnState
from returnhub.services import sync
from returnhub.settings import NAMED_SYSTEMS, Settings
from returnhub.store.db import Database
from returnhub.store.tables import Customer, CustomerLink, Order, OutboxJob, PulledReturn, Return
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order, post_hmac_signed

LOOP_SECRET = "loop-test-secret-0123456789abcdef"
RL_SECRET = "returnlogic-test-secret-0123456789"
GENERIC_SECRET = "whsec_" + base64.b64encode(b"generic-test-secret-0123456789ab").decode()
LOOP_KEY = "loop-api-key-0123456789"
FIXTURES = Path(__file__).parent / "fixtures"
RID = "8815306"


def loop_payload(name: str, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "loop" / f"{name}.json").read_text())
    payload.update(changes)
    return payload


def hub_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "loop_webhook_secret": SecretStr(LOOP_SECRET),
            "returnlogic_webhook_secret": SecretStr(RL_SECRET),
            "generic_webhook_secret": SecretStr(GENERIC_SECRET),
            **changes,
        }
    )


def loop_api_settings(httpserver: HTTPServer) -> dict[str, Any]:
    """Loop's API on loopback (answered by ``FakeLoop``), nothing auto-linked behind the test."""
    return {
        "loop_api_key": SecretStr(LOOP_KEY),
        "loop_base_url": httpserver.url_for("/api/v1"),
        "outbound_timeout_seconds": 2.0,
        "auto_link_enabled": False,
    }


@contextmanager
def running_hub(
    settings: Settings, db: Database, clock: Clock, **changes: Any
) -> Iterator[tuple[TestClient, Worker]]:
    """The app (webhook secrets set, plus ``changes``) and a worker the test drives by hand."""
    configured = hub_settings(settings, **changes)
    worker = Worker(db, configured, clock=clock)
    app = create_app(configured, db, clock, worker=False)
    try:
        with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
            yield client, worker
    finally:
        worker.close()


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[tuple[TestClient, Worker]]:
    with running_hub(settings, db, clock) as running:
        yield running


def post_loop(client: TestClient, payload: dict[str, Any] | bytes) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(LOOP_SECRET.encode(), body, hashlib.sha256).digest())
    return client.post(
        "/webhooks/loop",
        content=body,
        headers={"X-Loop-Signature": signature.decode(), "Content-Type": "application/json"},
    )


def post_generic(client: TestClient, data: dict[str, Any], msg_id: str) -> Any:
    body = json.dumps({"type": "return.upsert", "data": data})
    when = datetime.now(UTC)
    signature = Webhook(GENERIC_SECRET).sign(msg_id=msg_id, timestamp=when, data=body)
    return client.post(
        "/webhooks/generic",
        content=body.encode(),
        headers={
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature,
        },
    )


def post_returnlogic(client: TestClient, payload: dict[str, Any]) -> Any:
    return post_hmac_signed(
        client,
        "/webhooks/returnlogic",
        json.dumps(payload).encode(),
        header="X-ReturnLogic-Hmac-Sha256",
        secret=RL_SECRET,
    )


def held(db: Database, rid: str = RID, source: str = "loop") -> Return | None:
    with db.read() as session:
        return session.scalar(
            select(Return).where(Return.source_system == source, Return.external_id == rid)
        )


def fates(client: TestClient) -> list[tuple[str, str, str]]:
    """(event type, status, detail) of every inbox event, oldest first."""
    events = client.get("/api/v1/inbox", params={"limit": 200}).json()["data"]
    return [(e["event_type"], e["status"], e["detail"]) for e in reversed(events)]


def deliver(client: TestClient, worker: Worker, *payloads: dict[str, Any]) -> None:
    for payload in payloads:
        assert post_loop(client, payload).status_code == 202
        worker.drain()


def drain_all(db: Database, worker: Worker, clock: Clock) -> None:
    """Run every job, moving the clock past retry delays (a label waits for its return)."""
    for _ in range(20):
        worker.drain()
        with db.read() as session:
            left = session.scalar(
                select(func.count()).select_from(OutboxJob).where(OutboxJob.status == "pending")
            )
        if not left:
            return
        clock.advance(hours=1)
    raise AssertionError("jobs still pending after 20 rounds")


# --- 1. Ordering from the fields Loop really sends -------------------------------------------


def test_loop_close_with_edited_at_null_closes(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    deliver(
        client,
        worker,
        loop_payload("return_created", edited_at=None),
        loop_payload("return_closed", edited_at=None),
    )
    ret = held(db)
    assert ret is not None and ret.state == "closed"
    assert [f[1:] for f in fates(client)] == [("applied", "created"), ("applied", "updated")]


@pytest.mark.parametrize("state", ["cancelled", "expired"])
def test_loop_cancel_and_expiry_with_edited_at_null_apply(
    hub: tuple[TestClient, Worker], db: Database, state: str
) -> None:
    client, worker = hub
    created = loop_payload("return_created", edited_at=None)
    deliver(client, worker, created, {**created, "trigger": "return.updated", "state": state})
    ret = held(db)
    assert ret is not None and (ret.state, ret.refund_state) == (state, "void")


def test_label_data_newer_than_the_return_is_taken(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    created = loop_payload("return_created", edited_at=None)
    deliver(
        client,
        worker,
        created,
        loop_payload(
            "label_updated__out_for_delivery",
            label_status="pre_transit",
            label_updated_at="2026-11-11 08:00:00",
        ),
        # The return payload's own label clock is newer than the label event's.
        {
            **created,
            "trigger": "return.updated",
            "label_status": "in_transit",
            "label_updated_at": "2026-11-12 09:30:00",
        },
        # An older label report inside a return payload never rolls the label back.
        {
            **created,
            "trigger": "return.updated",
            "label_status": "new",
            "label_updated_at": "2026-11-10 15:00:00",
        },
    )
    ret = held(db)
    assert ret is not None
    assert (ret.state, ret.label_status) == ("in_transit", "in_transit")
    assert ret.label_updated_at is not None
    assert ret.label_updated_at.replace(tzinfo=UTC) == datetime(2026, 11, 12, 9, 30, tzinfo=UTC)


def test_a_step_back_without_a_stamp_keeps_the_ledger_and_says_how_to_settle_it(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    deliver(
        client,
        worker,
        loop_payload("return_closed", edited_at=None),
        loop_payload("return_created", edited_at=None),
    )
    ret = held(db)
    assert ret is not None and ret.state == "closed"
    event_type, status, detail = fates(client)[-1]
    assert (event_type, status) == ("return.created", "applied")
    assert detail.startswith("stale:") and "RETURNHUB_LOOP_API_KEY" in detail


class FakeLoop:
    """Loop's return details endpoint: answers with the return as Loop holds it now."""

    def __init__(self, server: HTTPServer) -> None:
        self.present: dict[str, dict[str, Any]] = {}
        self.asked: list[str] = []
        server.expect_request(
            "/api/v1/warehouse/return/details",
            method="GET",
            headers={"X-Authorization": LOOP_KEY},
        ).respond_with_handler(self._answer)

    def _answer(self, request: Request) -> Response:
        rid = request.args.get("return_id", "")
        self.asked.append(rid)
        if rid not in self.present:
            return Response(json.dumps({"error": "not found"}), status=404)
        return Response(json.dumps(self.present[rid]), content_type="application/json")


@pytest.fixture
def loop_api(httpserver: HTTPServer) -> Iterator[FakeLoop]:
    yield FakeLoop(httpserver)
    httpserver.check_assertions()


@pytest.fixture
def connected_hub(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer, loop_api: FakeLoop
) -> Iterator[tuple[TestClient, Worker]]:
    with running_hub(settings, db, clock, **loop_api_settings(httpserver)) as running:
        yield running


def test_an_undecidable_event_reads_loops_present_state(
    connected_hub: tuple[TestClient, Worker], db: Database, loop_api: FakeLoop
) -> None:
    client, worker = connected_hub
    review = loop_payload("return_updated__needs_review", edited_at=None)
    # Loop's reviewer sent the return back to open (label delivered): a step back in the
    # lifecycle that no stamp orders; Loop's present state says it is open again.
    reopened = {
        **review,
        "trigger": "return.updated",
        "state": "open",
        "label_status": "delivered",
    }
    loop_api.present[RID] = reopened
    deliver(client, worker, review, reopened)
    ret = held(db)
    assert ret is not None and ret.state == "received"
    assert loop_api.asked == [RID]
    assert fates(client)[-1][1:] == ("applied", "updated")


# --- 4. Source integrity ---------------------------------------------------------------------


def test_the_generic_source_cannot_pose_as_loop(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock
) -> None:
    client, worker = hub
    deliver(client, worker, loop_payload("return_closed", edited_at=None))
    forged = {
        "system": "loop",
        "id": RID,
        "state": "cancelled",
        "updated_at": (clock.now - timedelta(days=1)).isoformat(),
        "created_at": "2026-11-10T14:03:11Z",
        "order_name": "#90507",
        "customer_email": "jordan.lee@example.com",
    }
    assert post_generic(client, forged, "msg_forged").status_code == 202
    worker.drain()
    ret = held(db)
    assert ret is not None and ret.state == "closed"
    _, status, detail = fates(client)[-1]
    assert status == "failed" and "data.system 'loop'" in detail
    # Without the claim, the same id is the generic sender's own return, not Loop's.
    unclaimed = {k: v for k, v in forged.items() if k != "system"}
    assert post_generic(client, unclaimed, "msg_own").status_code == 202
    worker.drain()
    own = held(db, source="generic")
    assert own is not None and own.state == "cancelled"
    loop_return = held(db)
    assert loop_return is not None and loop_return.state == "closed"


def test_the_generic_system_name_is_the_deployments(
    settings: Settings, db: Database, clock: Clock
) -> None:
    data = {
        "id": "RA-1",
        "state": "requested",
        "updated_at": "2026-11-20T10:00:00Z",
        "created_at": "2026-11-20T10:00:00Z",
        "order_name": "#7001",
        "customer_email": "pat@example.com",
    }
    with running_hub(settings, db, clock, generic_source_system="erp") as (client, worker):
        post_generic(client, {**data, "system": "erp"}, "msg_1")
        post_generic(client, {**data, "id": "RA-2", "order_name": "#7002"}, "msg_2")
        worker.drain()
    assert held(db, "RA-1", "erp") is not None
    assert held(db, "RA-2", "erp") is not None


def test_settings_know_every_connected_systems_name() -> None:
    # Settings cannot import the connectors (they import settings): the names are kept twice.
    assert set(SPECS) == NAMED_SYSTEMS


@pytest.mark.parametrize("name", ["loop", "shopify", "returnlogic", "returnhub"])
def test_the_generic_system_cannot_take_a_connected_systems_name(name: str) -> None:
    with pytest.raises(ValidationError, match="RETURNHUB_GENERIC_SOURCE_SYSTEM"):
        Settings(generic_source_system=name)


def test_a_stamp_from_the_future_is_refused_and_never_blocks_later_updates(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock
) -> None:
    client, worker = hub
    created = loop_payload("return_created", edited_at=None)
    future = (clock.now + timedelta(days=365)).strftime("%Y-%m-%d %H:%M:%S")
    deliver(
        client,
        worker,
        created,
        {**created, "trigger": "return.updated", "state": "cancelled", "edited_at": future},
    )
    ret = held(db)
    assert ret is not None and ret.state == "authorized"
    _, status, detail = fates(client)[-1]
    assert status == "failed" and "ahead of this server's clock" in detail
    dead = client.get("/api/v1/outbox", params={"status": "dead"}).json()["data"]
    assert len(dead) == 1 and "ahead of this server's clock" in dead[0]["last_error"]
    # The genuine close, stamped now, still applies.
    now = clock.now.strftime("%Y-%m-%d %H:%M:%S")
    deliver(client, worker, loop_payload("return_closed", edited_at=now))
    ret = held(db)
    assert ret is not None and ret.state == "closed"


def test_a_label_stamp_from_the_future_is_refused(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock
) -> None:
    client, worker = hub
    future = (clock.now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    deliver(
        client,
        worker,
        loop_payload("return_created", edited_at=None),
        loop_payload("label_updated__out_for_delivery", label_updated_at=future),
    )
    ret = held(db)
    assert ret is not None and ret.label_status == "new"
    assert fates(client)[-1][1] == "failed"


# --- 5. Right customer, right order ----------------------------------------------------------


def test_a_return_never_lands_on_another_customers_order(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock
) -> None:
    client, worker = hub
    owner = create_customer(client, emails=["owner@example.com"])
    order = create_order(client, clock.now, owner["id"], name="#90507")
    before = client.get(f"/api/v1/orders/{order['id']}").json()
    payload = loop_payload("return_created", edited_at=None)
    payload["line_items"] = [dict(payload["line_items"][0]) for _ in range(5)]
    assert post_loop(client, payload).status_code == 202
    worker.drain()
    assert held(db) is None
    _, status, detail = fates(client)[-1]
    assert status == "failed"
    assert f"belongs to customer {owner['id']}" in detail and "link" in detail
    assert client.get(f"/api/v1/orders/{order['id']}").json() == before
    assert client.get("/api/v1/returns", params={"customer_id": owner["id"]}).json()["data"] == []
    with db.read() as session:  # nothing half-applied: not even the stranger's customer
        emails = [e.email for c in session.scalars(select(Customer)) for e in c.emails]
    assert emails == ["owner@example.com"]


def test_a_linked_profile_owns_its_customers_order(
    hub: tuple[TestClient, Worker], db: Database, clock: Clock
) -> None:
    client, worker = hub
    owner = create_customer(client, emails=["owner@example.com"])
    create_order(client, clock.now, owner["id"], name="#90507")
    assert post_loop(client, loop_payload("return_created", edited_at=None)).status_code == 202
    worker.drain()
    assert held(db) is None
    # The merchant says jordan.lee@example.com in Loop is this customer, then replays.
    with db.write() as session:
        customer = session.scalars(select(Customer)).one()
        session.add(
            CustomerLink(
                customer_id=customer.id,
                system="loop",
                external_id="jordan.lee@example.com",
                how="manual",
            )
        )
    [job] = client.get("/api/v1/outbox", params={"status": "dead"}).json()["data"]
    assert client.post(f"/api/v1/outbox/{job['id']}/replay").status_code == 200
    worker.drain()
    ret = held(db)
    assert ret is not None
    with db.read() as session:
        order = session.scalars(select(Order).where(Order.name == "#90507")).one()
        assert (ret.order_id, ret.customer_id) == (order.id, order.customer_id)


# --- 6. Refresh after every source -----------------------------------------------------------


def link_customer(db: Database, system: str, external_id: str) -> int:
    with db.write() as session:
        customer = Customer(public_id="cus_linked", name="Linked", name_search="linked", tags=[])
        session.add(customer)
        session.flush()
        session.add(
            CustomerLink(customer_id=customer.id, system=system, external_id=external_id, how="x")
        )
        return customer.id


def pulled_of(db: Database, customer_id: int) -> list[tuple[str, str, str]]:
    with db.read() as session:
        rows = session.scalars(
            select(PulledReturn).where(PulledReturn.customer_id == customer_id)
        ).all()
        return [(r.system, r.external_id, r.state) for r in rows]


def test_refresh_after_loop_by_its_profile_id(hub: tuple[TestClient, Worker], db: Database) -> None:
    client, worker = hub
    linked = link_customer(db, "loop", "jordan.lee@example.com")
    deliver(
        client,
        worker,
        loop_payload("return_created", edited_at=None),
        loop_payload("return_closed", edited_at=None),
    )
    assert pulled_of(db, linked) == [("loop", RID, "closed")]


def test_refresh_after_returnlogic_by_its_profile_id(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    linked = link_customer(db, "returnlogic", "mara.okafor@example.com")
    rma = {
        "event": "rma.created",
        "eventId": "evt-1",
        "data": {
            "rlRmaId": "RMA-77",
            "workflowStatus": "Authorized",
            "orderName": "#90630",
            "customerEmail": "Mara.Okafor@example.com",
            "timeline": {"createDate": "2026-11-20T10:00:00Z"},
            "rmaItems": [{"sku": "JKT-1", "name": "Jacket", "quantity": 1, "price": "80.00"}],
        },
    }
    assert post_returnlogic(client, rma).status_code == 202
    worker.drain()
    assert pulled_of(db, linked) == [("returnlogic", "RMA-77", "authorized")]


def test_refresh_after_generic_by_its_own_customer_id(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    linked = link_customer(db, "generic", "ERP-CUST-9")
    data = {
        "id": "RA-9",
        "state": "received",
        "updated_at": "2026-11-20T10:00:00Z",
        "created_at": "2026-11-18T10:00:00Z",
        "order_name": "#7009",
        "customer_email": "pat@example.com",
        "customer_id": "ERP-CUST-9",
    }
    assert post_generic(client, data, "msg_9").status_code == 202
    worker.drain()
    assert pulled_of(db, linked) == [("generic", "RA-9", "received")]


def _new_customers_return(external_id: str) -> ExternalReturn:
    return ExternalReturn(
        source="loop",
        external_id=external_id,
        state=ReturnState.AUTHORIZED,
        updated_at=None,
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        order_name="#RACE-1",
        customer_email="racing@example.com",
        currency="USD",
        items=(ExternalItem(sku="SKU-R", title="Racer", unit_price=1000),),
    )


def test_two_returns_of_a_new_customer_applied_at_once_share_one_customer_and_order(
    db: Database,
) -> None:
    """PostgreSQL lets two transactions insert the same new customer at once: the second
    blocks on the unique email until the first commits, then must take the first's customer
    and order instead of failing. (SQLite has one writer at a time, so no such race.)"""
    if db.dialect != "postgresql":
        pytest.skip("a race of two writers needs PostgreSQL")
    now = datetime(2026, 11, 2, tzinfo=UTC)
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with db.write() as session:
                outcome["result"] = sync.apply_external_return(
                    session, _new_customers_return("R-2"), now
                )
        except Exception as exc:  # reported to the test thread below
            outcome["error"] = exc

    with db.write() as session:
        assert sync.apply_external_return(session, _new_customers_return("R-1"), now) is (
            sync.SyncResult.CREATED
        )
        thread = threading.Thread(target=second)
        thread.start()
        # Hold the first transaction open until the second waits on its uncommitted customer.
        with db.engine.connect() as watcher:
            for _ in range(500):
                waiting = watcher.execute(
                    text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar_one()
                if waiting:
                    break
                watcher.rollback()
                time.sleep(0.01)
        assert waiting, "the second apply never waited on the first's customer"
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"] is sync.SyncResult.CREATED
    with db.read() as session:
        owners = session.execute(
            select(Return.external_id, Return.customer_id, Return.order_id).order_by(
                Return.external_id
            )
        ).all()
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert session.scalar(select(func.count()).select_from(Order)) == 1
    assert [o.external_id for o in owners] == ["R-1", "R-2"]
    assert owners[0][1:] == owners[1][1:]
