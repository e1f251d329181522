"""Convergence, proven by property: whatever order a Loop return's real-shaped events arrive in,
with duplicates, with ``edited_at`` null or set, the ledger ends in the state, label and refund
of the source's latest event. Through the real HTTP intake and worker, on both engines, with
Loop's return details on loopback for the events no payload can order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import Clock
from tests.test_sync_fidelity import (
    FakeLoop,
    drain_all,
    held,
    loop_api_settings,
    post_loop,
    running_hub,
)

BASE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "loop" / "real_return_created.json").read_text()
)
CREATED = datetime(2026, 11, 10, 14, 3, 11)
_ids = count(1)


@dataclass(frozen=True)
class Step:
    """One change at the source: its trigger, Loop state and label (None: a label event)."""

    trigger: str
    state: str | None
    label_status: str
    ledger_state: str


# Real Loop lifecycles (docs.loopreturns.com/reference/webhooks): the state stays "open" while
# the label moves, review blocks processing and may send the return back to open.
LIFECYCLES: list[list[Step]] = [
    [
        Step("return.created", "open", "new", "authorized"),
        Step("label.created", None, "pre_transit", "authorized"),
        Step("return.updated", "open", "in_transit", "in_transit"),
        Step("label.updated", None, "delivered", "in_transit"),
        Step("return.updated", "open", "delivered", "received"),
        Step("return.closed", "closed", "delivered", "closed"),
    ],
    [
        Step("return.created", "open", "new", "authorized"),
        Step("return.updated", "cancelled", "new", "cancelled"),
    ],
    [
        Step("return.created", "open", "new", "authorized"),
        Step("label.created", None, "pre_transit", "authorized"),
        Step("return.updated", "expired", "pre_transit", "expired"),
    ],
    [
        Step("return.created", "open", "new", "authorized"),
        Step("return.updated", "open", "in_transit", "in_transit"),
        Step("return.updated", "needs review", "in_transit", "flagged"),
        Step("return.updated", "open", "delivered", "received"),
        Step("return.closed", "closed", "delivered", "closed"),
    ],
]


def events_of(steps: list[Step], edited_from: int, gaps: list[int]) -> list[dict[str, Any]]:
    """The payloads Loop sends for ``steps`` of one new return: step i happens ``sum(gaps[:i])``
    minutes after creation; edited_at is null before step ``edited_from``, and from then on the
    time of the last edit (unchanged by later non-edit steps when their gap is 0)."""
    rid = 60_000_000 + next(_ids)
    order = f"#P{rid}"
    events: list[dict[str, Any]] = []
    label, label_at = "new", None
    for i, step in enumerate(steps):
        at = CREATED + timedelta(minutes=sum(gaps[: i + 1]))
        if step.label_status != label:
            label, label_at = step.label_status, at
        stamp = at.strftime("%Y-%m-%d %H:%M:%S")
        label_stamp = label_at.strftime("%Y-%m-%d %H:%M:%S") if label_at else None
        if step.state is None:
            events.append(
                {
                    "topic": "label",
                    "trigger": step.trigger,
                    "shop_id": BASE["shop_id"],
                    "id": str(rid),
                    "order_id": BASE["order_id"],
                    "carrier": "USPS",
                    "tracking_number": f"94001{rid}",
                    "label_status": label,
                    "label_updated_at": label_stamp,
                }
            )
            continue
        events.append(
            {
                **BASE,
                "trigger": step.trigger,
                "id": rid,
                "order_name": order,
                "state": step.state,
                "edited_at": stamp if i >= edited_from else None,
                "carrier": "USPS",
                "tracking_number": f"94001{rid}",
                "label_status": label,
                "label_updated_at": label_stamp,
            }
        )
    return events


@pytest.fixture
def loop_hub(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer
) -> Iterator[tuple[TestClient, Worker, FakeLoop, Clock]]:
    fake = FakeLoop(httpserver)
    with running_hub(settings, db, clock, **loop_api_settings(httpserver)) as (client, worker):
        yield client, worker, fake, clock


def deliveries(lifecycles: list[list[Step]]) -> st.SearchStrategy[Case]:
    @st.composite
    def draw_case(draw: st.DrawFn) -> Case:
        steps = draw(st.sampled_from(lifecycles))
        n = len(steps)
        edited_from = draw(st.integers(0, n))
        # Each step happens at least a minute after the one before.
        gaps = draw(st.lists(st.integers(1, 90), min_size=n, max_size=n))
        sequence = list(draw(st.permutations(range(n))))
        extra = draw(st.lists(st.integers(0, n - 1), max_size=3))
        for index in extra:
            # A duplicate: Loop resending the same body.
            sequence.insert(draw(st.integers(0, len(sequence))), index)
        return steps, edited_from, gaps, sequence

    return draw_case()


Case = tuple[list[Step], int, list[int], list[int]]
# Lifecycles that only ever move forward: no payload is undecidable, so no pull is needed.
FORWARD = LIFECYCLES[:3]
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def replay(
    client: TestClient,
    worker: Worker,
    db: Database,
    clock: Clock,
    fake: FakeLoop | None,
    case: Case,
) -> str:
    """Deliver the case's events in its order; the return's id."""
    steps, edited_from, gaps, sequence = case
    events = events_of(steps, edited_from, gaps)
    rid = str(events[0]["id"])
    if fake is not None:
        # Loop's present state: its latest return payload.
        fake.present[rid] = [e for e in events if e.get("topic") != "label"][-1]
    for index in sequence:
        assert post_loop(client, events[index]).status_code in (200, 202)
    drain_all(db, worker, clock)
    ret = held(db, rid)
    assert ret is not None
    last = steps[-1]
    assert ret.state == last.ledger_state
    assert ret.label_status == events[-1]["label_status"]
    final = {"cancelled": "void", "expired": "void", "closed": "issued"}
    assert ret.refund_state == final.get(last.ledger_state, "pending")
    assert ret.refund_amount == 12990
    return rid


@PROPERTY
@given(case=deliveries(LIFECYCLES))
def test_any_delivery_order_ends_in_the_sources_latest_state(
    loop_hub: tuple[TestClient, Worker, FakeLoop, Clock], db: Database, case: Case
) -> None:
    client, worker, fake, clock = loop_hub
    rid = replay(client, worker, db, clock, fake, case)
    steps, edited_from, _, _ = case
    if edited_from == 0 and all(step.state is not None for step in steps):
        assert fake.asked.count(rid) == 0  # every event stamped: no pull was ever needed


@pytest.fixture
def bare_hub(
    settings: Settings, db: Database, clock: Clock
) -> Iterator[tuple[TestClient, Worker, Clock]]:
    with running_hub(settings, db, clock, auto_link_enabled=False) as (client, worker):
        yield client, worker, clock


@PROPERTY
@given(case=deliveries(FORWARD))
def test_forward_lifecycles_converge_from_the_payloads_alone(
    bare_hub: tuple[TestClient, Worker, Clock], db: Database, case: Case
) -> None:
    """Without Loop's API: the stamps and the lifecycle alone order every event."""
    client, worker, clock = bare_hub
    replay(client, worker, db, clock, None, case)
