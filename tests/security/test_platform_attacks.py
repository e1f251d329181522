"""A signed webhook sender reaches no further than its own returns.

Regression tests from the attacker's side: the generic sender (whose secret is the easiest to
hand out) claims to be another system, or attaches a return to another customer's order. The
source-integrity tests in tests/test_sync_fidelity.py cover the Loop paths; these add the
generic sender's, reusing that module's helpers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from returnhub.delivery.worker import Worker
from returnhub.store.db import Database
from returnhub.store.tables import Customer, Return
from tests.conftest import Clock
from tests.factories import create_customer, create_order

# hub is test_sync_fidelity's fixture (app plus a worker the test drives), reused by name.
from tests.test_sync_fidelity import fates, hub, post_generic  # noqa: F401


def _generic_return(clock: Clock, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "RET-7001",
        "state": "authorized",
        "updated_at": (clock.now - timedelta(hours=1)).isoformat(),
        "created_at": (clock.now - timedelta(days=1)).isoformat(),
        "order_name": "#77001",
        "customer_email": "stranger@example.com",
    }
    data.update(changes)
    return data


def _returns(db: Database) -> list[tuple[str, str | None]]:
    with db.read() as session:
        return [(r.source_system, r.external_id) for r in session.scalars(select(Return))]


@pytest.mark.parametrize("system", ["loop", "shopify", "returnlogic", "returnhub"])
def test_the_generic_sender_cannot_write_as_another_system(
    hub: tuple[TestClient, Worker],  # noqa: F811
    db: Database,
    clock: Clock,
    system: str,
) -> None:
    client, worker = hub
    assert (
        post_generic(client, _generic_return(clock, system=system), "msg_pose").status_code == 202
    )
    worker.drain()
    _, status, detail = fates(client)[-1]
    assert status == "failed"
    assert f"data.system '{system}'" in detail
    assert _returns(db) == []
    with db.read() as session:  # nothing half-applied
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_the_generic_sender_cannot_attach_a_return_to_another_customers_order(
    hub: tuple[TestClient, Worker],  # noqa: F811
    db: Database,
    clock: Clock,
) -> None:
    client, worker = hub
    owner = create_customer(client, emails=["owner@example.com"])
    order = create_order(client, clock.now, owner["id"], name="#77001")
    before = client.get(f"/api/v1/orders/{order['id']}").json()
    # A stranger's return naming the owner's order number.
    assert post_generic(client, _generic_return(clock), "msg_steal").status_code == 202
    worker.drain()
    _, status, detail = fates(client)[-1]
    assert status == "failed"
    assert f"belongs to customer {owner['id']}" in detail
    assert _returns(db) == []
    assert client.get(f"/api/v1/orders/{order['id']}").json() == before
    with db.read() as session:
        emails = [e.email for c in session.scalars(select(Customer)) for e in c.emails]
    assert emails == ["owner@example.com"]
