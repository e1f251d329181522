"""Warehouse reconciliation benchmark.

Run: .venv/bin/python bench/reconcile.py [--lines 100000] [--returns 40] [--database-url URL]

1. In-process: reconcile 100k receipt lines (20k RAs of 5 lines, a mix of exact, short, over,
   damaged and unexpected SKUs) with ``domain.reconciliation.reconcile`` and the shipped
   criteria -> ``reconcile_lines_per_second`` (target >= 20,000). Also parses one 944 holding
   the same number of W07 lines -> ``edi_944_lines_per_second``.
2. End to end with the embedded worker (the API app with its background worker thread, default
   RETURNHUB_WORKER_POLL_SECONDS, a temporary SQLite file, or a scratch database on the given
   PostgreSQL server): for each of N authorized, transmitted returns, post a 944 to
   ``POST /api/v1/warehouse/receipts`` and time until the return is processed or flagged ->
   p50/p99/max seconds (target p99 < 2 s). Half of the receipts have a damaged unit (flag).

Prints one JSON object on stdout; progress goes to stderr. Temporary files and databases are
removed at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from returnhub.api.app import create_app
from returnhub.connectors.edi import receipt944
from returnhub.connectors.edi.x12 import Party, write
from returnhub.domain import reconciliation as rec
from returnhub.services import warehouse as wh
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade

AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def in_process(lines: int) -> dict[str, float]:
    criteria = wh.load_criteria(Settings())
    rng = random.Random(7)
    now = datetime(2030, 1, 15, tzinfo=UTC)
    cases = []
    for n in range(lines // 5):
        expected = [rec.ExpectedLine(f"SKU-{n}-{i}", 2, 1000 + i) for i in range(4)]
        received = [rec.ReceivedLine(f"SKU-{n}-{i}", 2, "good") for i in range(4)]
        roll = rng.random()
        if roll < 0.2:
            received[0] = rec.ReceivedLine(received[0].sku, 1, "good")
        elif roll < 0.4:
            received[1] = rec.ReceivedLine(received[1].sku, 1, criteria.condition("01"))
        if roll > 0.8:
            received.append(rec.ReceivedLine(f"EXTRA-{n}", 1, "good"))
        else:  # the same SKU over two receipt lines, adding up to what was expected
            received[2] = rec.ReceivedLine(received[2].sku, 1, "good")
            received.append(rec.ReceivedLine(received[2].sku, 1, "good"))
        cases.append((expected, received))
    started = time.perf_counter()
    outcomes = {o: 0 for o in rec.Outcome}
    for expected, received in cases:
        decision = rec.reconcile(
            expected, received, criteria, complete=True, first_received_at=now, now=now
        )
        outcomes[decision.outcome] += 1
    elapsed = time.perf_counter() - started
    total = sum(len(r) for _, r in cases)

    body = [["W17", "F", "20300116", "WR-1", "RA-1"]]
    body += [["W07", "1", "EA", "", "SK", f"SKU-{i}"] for i in range(lines)]
    text = write(
        sender=Party("ZZ", "3PL"),
        receiver=Party("ZZ", "US"),
        control_number=1,
        functional_id="RE",
        when=now,
        transactions=[("944", body)],
    )
    started = time.perf_counter()
    _, [receipt] = receipt944.read(text)
    parse_elapsed = time.perf_counter() - started
    assert len(receipt.items) == lines
    return {
        "receipt_lines": total,
        "reconcile_seconds": round(elapsed, 3),
        "reconcile_lines_per_second": round(total / elapsed),
        "flagged_share": round(outcomes[rec.Outcome.FLAG] / len(cases), 3),
        "edi_944_lines_per_second": round(lines / parse_elapsed),
    }


def _scratch_postgres(server_url: str) -> tuple[str, str]:
    url = make_url(server_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    name = f"rh_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(False), admin


def receipt(ra_number: str, control: int, damaged: bool) -> str:
    body = [["W17", "F", "20300116", f"WR-{control}", ra_number]]
    body.append(["W07", "2", "EA", "", "SK", "JKT-RAIN-NVY-M"])
    if damaged:
        body.append(["W13", "1", "EA", "01", "", "DA"])
    return write(
        sender=Party("ZZ", "WAREHOUSE3PL"),
        receiver=Party("ZZ", "RETURNHUB"),
        control_number=control,
        functional_id="RE",
        when=datetime.now(UTC),
        transactions=[("944", body)],
    )


def end_to_end(returns: int, database_url: str | None, timeout: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="rh-bench-"))
    admin = None
    url = f"sqlite:///{tmp / 'bench.db'}"
    if database_url:
        url, admin = _scratch_postgres(database_url)
    settings = Settings(
        database_url=url,
        embedded_worker=True,
        warehouse_enabled=True,
        warehouse_outbound_dir=str(tmp / "out"),
        warehouse_inbound_dir=str(tmp / "in"),
        auto_link_enabled=False,
    )
    db = Database.from_settings(settings)
    upgrade(db.engine)
    latencies: list[float] = []
    try:
        with TestClient(create_app(settings, db), headers=AUTH) as client:
            now = datetime.now(UTC)
            rets = []
            for n in range(returns):
                customer = client.post(
                    "/api/v1/customers", json={"name": f"B {n}", "emails": [f"b{n}@ex.com"]}
                ).json()
                order = client.post(
                    "/api/v1/orders",
                    json={
                        "name": f"#B{n}",
                        "customer_id": customer["id"],
                        "placed_at": (now - timedelta(days=9)).isoformat(),
                        "delivered_at": (now - timedelta(days=5)).isoformat(),
                        "currency": "USD",
                        "lines": [
                            {
                                "sku": "JKT-RAIN-NVY-M",
                                "title": "Rain Jacket",
                                "quantity": 2,
                                "unit_price": 12900,
                            }
                        ],
                    },
                ).json()
                ret = client.post(
                    "/api/v1/returns",
                    json={
                        "order_id": order["id"],
                        "items": [
                            {
                                "order_line_id": order["lines"][0]["id"],
                                "quantity": 2,
                                "outcome": "refund",
                            }
                        ],
                    },
                ).json()
                client.post(f"/api/v1/returns/{ret['id']}/authorize")
                rets.append(ret)
            log(f"{returns} returns authorized; waiting for their RAs to be transmitted")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                listed = client.get(
                    "/api/v1/warehouse/ras", params={"state": "transmitted", "limit": 200}
                ).json()
                if len(listed["data"]) == returns:
                    break
                time.sleep(0.05)
            for n, ret in enumerate(rets):
                document = receipt(ret["number"], 1000 + n, damaged=n % 2 == 1)
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/warehouse/receipts",
                    content=document,
                    headers={"Content-Type": "application/edi-x12"},
                )
                assert response.status_code == 202, response.text
                while time.monotonic() < deadline:
                    state = client.get(f"/api/v1/returns/{ret['id']}").json()["state"]
                    if state in ("processed", "flagged"):
                        latencies.append(time.perf_counter() - started)
                        break
                    time.sleep(0.01)
                else:
                    raise TimeoutError(f"return {ret['id']} was not decided in time")
    finally:
        db.dispose()
        if admin is not None:
            name = make_url(url).database
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    latencies.sort()
    p99_index = max(0, round(0.99 * len(latencies)) - 1)
    return {
        "engine": "postgresql" if admin else "sqlite",
        "returns": returns,
        "worker_poll_seconds": settings.worker_poll_seconds,
        "receipt_to_decision_p50_seconds": round(statistics.median(latencies), 3),
        "receipt_to_decision_p99_seconds": round(latencies[p99_index], 3),
        "receipt_to_decision_max_seconds": round(latencies[-1], 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=100_000, help="receipt lines reconciled")
    parser.add_argument("--returns", type=int, default=40, help="end-to-end returns")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    log(f"reconciling {args.lines} receipt lines in-process")
    result: dict[str, Any] = {
        "benchmark": "warehouse_reconcile",
        "python": platform.python_version(),
        **in_process(args.lines),
    }
    log("end to end through the API and the embedded worker")
    result |= end_to_end(args.returns, args.database_url, args.timeout)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
