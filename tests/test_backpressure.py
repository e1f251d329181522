"""Backpressure: past the backlog limit, webhook intake answers 503 with Retry-After instead of
accepting what the worker cannot apply in time; readiness and metrics show the lag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient

from returnhub.delivery.backlog import BacklogMonitor
from returnhub.delivery.worker import Worker
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.types import utcnow
from tests.conftest import Clock
from tests.test_sync_fidelity import loop_payload, post_loop, running_hub


@contextmanager
def limited(
    settings: Settings, db: Database, clock: Clock, *, events: int, seconds: float
) -> Iterator[tuple[TestClient, Worker, BacklogMonitor]]:
    """The app with these backlog limits (0: off), sampled only when the test says
    (``check``), and a worker that applies one event per round (``run_once(limit=1)``)."""
    with running_hub(
        settings,
        db,
        clock,
        intake_max_backlog_events=events,
        intake_max_backlog_seconds=seconds,
        intake_backlog_check_seconds=3600,
        worker_concurrency=1,
    ) as (client, worker):
        backlog = cast(FastAPI, client.app).state.context.backlog
        assert isinstance(backlog, BacklogMonitor)
        yield client, worker, backlog


def webhook(n: int) -> dict[str, Any]:
    return loop_payload("return_created", id=9_000_000 + n, order_name=f"#BP{n}", edited_at=None)


def gauge(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_intake_sheds_past_the_limit_and_accepts_again_once_applied(
    settings: Settings, db: Database, clock: Clock
) -> None:
    with limited(settings, db, clock, events=3, seconds=0) as (client, worker, backlog):
        for n in range(4):
            assert post_loop(client, webhook(n)).status_code == 202
        backlog.check()
        assert backlog.shedding

        refused = post_loop(client, webhook(4))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "30"
        [error] = refused.json()["errors"]
        assert error["code"] == "backlog_full" and "4 events are waiting" in error["message"]
        ready = client.get("/readyz")
        assert ready.status_code == 200  # lookups and pages are still served
        assert ready.json()["backlog"]["intake"] == "shedding"
        assert ready.json()["backlog"]["unapplied_events"] == 4
        assert gauge(client, "returnhub_intake_shedding") == 1.0
        assert gauge(client, "returnhub_inbox_unapplied_events") == 4.0

        worker.drain()
        backlog.check()
        assert not backlog.shedding
        assert post_loop(client, webhook(4)).status_code == 202
        assert client.get("/readyz").json()["backlog"]["intake"] == "accepting"
        assert gauge(client, "returnhub_intake_shedding") == 0.0


def test_recovery_waits_until_the_backlog_is_well_under_the_limit(
    settings: Settings, db: Database, clock: Clock
) -> None:
    with limited(settings, db, clock, events=10, seconds=0) as (
        client,
        worker,
        backlog,
    ):
        for n in range(11):
            post_loop(client, webhook(n))
        assert backlog.check().unapplied_events == 11 and backlog.shedding
        for _ in range(2):
            worker.run_once(limit=1)  # one event a round: 9 left, under the limit, not under 80 %
        assert backlog.check().unapplied_events == 9 and backlog.shedding
        for _ in range(2):
            worker.run_once(limit=1)  # 7 left
        assert backlog.check().unapplied_events == 7 and not backlog.shedding


def test_intake_sheds_when_the_oldest_event_waited_too_long(
    settings: Settings, db: Database, clock: Clock
) -> None:
    with limited(settings, db, clock, events=0, seconds=5) as (client, _, backlog):
        post_loop(client, webhook(1))
        assert not backlog.check().oldest_unapplied_seconds > 5 and not backlog.shedding
        backlog.clock = lambda: utcnow() + timedelta(seconds=30)  # half a minute later
        assert backlog.check().oldest_unapplied_seconds > 25 and backlog.shedding
        response = post_loop(client, webhook(2))
        assert response.status_code == 503 and "oldest for" in json.dumps(response.json())


def test_limits_off_never_shed(settings: Settings, db: Database, clock: Clock) -> None:
    with limited(settings, db, clock, events=0, seconds=0) as (client, _, backlog):
        for n in range(5):
            assert post_loop(client, webhook(n)).status_code == 202
        assert backlog.check().unapplied_events == 5 and not backlog.shedding


def test_after_an_age_limit_intake_reopens_once_the_drain_will_be_quick(
    settings: Settings, db: Database, clock: Clock
) -> None:
    """The oldest event's own age only falls once everything before it is applied; intake
    reopens as soon as the events still waiting would be applied in time at the drain rate."""
    with limited(settings, db, clock, events=0, seconds=5) as (
        client,
        worker,
        backlog,
    ):
        for n in range(11):
            post_loop(client, webhook(n))
        start = utcnow() + timedelta(seconds=30)
        backlog.clock = lambda: start
        assert backlog.check().oldest_unapplied_seconds > 25 and backlog.shedding
        backlog.clock = lambda: start + timedelta(seconds=1)
        assert backlog.check().unapplied_events == 11 and backlog.shedding  # nothing drained
        for _ in range(8):
            worker.run_once(limit=1)
        backlog.clock = lambda: start + timedelta(seconds=2)
        # 8 applied in a second: the 3 left wait ~0.4 s, though the oldest has waited 30 s.
        sample = backlog.check()
        assert sample.unapplied_events == 3 and sample.oldest_unapplied_seconds > 25
        assert not backlog.shedding
        assert post_loop(client, webhook(20)).status_code == 202
