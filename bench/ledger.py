"""Ledger benchmark: demo load time, return creation rate and read latency.

Run: .venv/bin/python bench/ledger.py [--customers N] [--database-url URL]

Builds a demo database (default 100,000 customers in a temporary SQLite file; with
--database-url postgresql+psycopg://user@host:port/any, a scratch database on that server that is
dropped afterwards), then measures

- returns created per second through the service layer (one write transaction each),
- returns created per second through HTTP (the real app under uvicorn on 127.0.0.1), sequentially
  and from several client threads at once,
- p50/p99 latency of GET /api/v1/returns/{id} and GET /api/v1/customers/{id}/returns.

Prints one JSON object on stdout; progress goes to stderr. All traffic stays on 127.0.0.1 and every
loop is bounded. The client runs in the same process as the server (one GIL, two cores), so the
HTTP figures are a floor for what a separate server process would do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from rich.console import Console
from sqlalchemy import make_url, select, text

from common import emit, free_port, log
from returnhub.api.app import create_app
from returnhub.demo import load_demo
from returnhub.domain.policy import Outcome, Policy
from returnhub.services import returns
from returnhub.services.commands import ReturnCreate, ReturnItemIn
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import Customer, Order, OrderLine, Return

# A fixed clock: the demo's dates and the policy windows are computed against it.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEED = 7
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


# ---- databases --------------------------------------------------------------------------------


@contextmanager
def scratch_database(url: str | None) -> Iterator[str]:
    """A URL for an empty database that disappears afterwards."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="returnhub-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'ledger.db'}"
        return
    if url.startswith("sqlite"):
        yield url
        return
    server = make_url(url)
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"rh_bench_{secrets.token_hex(5)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"created scratch database {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped scratch database {name}")


def engine_facts(db: Database) -> dict[str, str]:
    if db.dialect == "sqlite":
        return {"engine": "sqlite", "version": sqlite3.sqlite_version}
    with db.read() as session:
        version = session.scalar(text("SHOW server_version")) or ""
    return {"engine": db.dialect, "version": str(version)}


# ---- what to return ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    order_id: str
    line_id: str


def returnable_orders(db: Database, rng: random.Random) -> list[Candidate]:
    """Delivered within the 30-day refund window, nothing returned yet: one line each."""
    since = NOW - timedelta(days=25)
    with db.read() as session:
        rows = session.execute(
            select(Order.public_id, OrderLine.public_id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.delivered_at >= since,
                Order.delivered_at <= NOW,
                OrderLine.final_sale.is_(False),
                Order.id.not_in(select(Return.order_id)),
            )
            .order_by(Order.id, OrderLine.position)
        ).all()
    first_line: dict[str, str] = {}
    for order_id, line_id in rows:
        first_line.setdefault(order_id, line_id)
    candidates = [Candidate(o, line) for o, line in first_line.items()]
    rng.shuffle(candidates)
    return candidates


def return_body(candidate: Candidate) -> ReturnCreate:
    return ReturnCreate(
        order_id=candidate.order_id,
        items=[
            ReturnItemIn(
                order_line_id=candidate.line_id,
                quantity=1,
                outcome=Outcome.REFUND,
                reason="Too small",
                parent_reason="Fit",
                expected_condition="new",
            )
        ],
        status_page_url="https://returns.example.com/status/bench",
    )


# ---- measurements ------------------------------------------------------------------------------


def rate(count: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "count": count,
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1) if seconds > 0 else None,
        **extra,
    }


def latency(samples_ms: Sequence[float]) -> dict[str, Any]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "count": len(samples_ms),
        "p50_ms": round(statistics.median(samples_ms), 2),
        "p99_ms": round(cuts[98], 2),
        "mean_ms": round(statistics.fmean(samples_ms), 2),
        "max_ms": round(max(samples_ms), 2),
    }


def bench_service(db: Database, candidates: Sequence[Candidate]) -> dict[str, Any]:
    policy = Policy.default()
    bodies = [return_body(c) for c in candidates]
    started = time.perf_counter()
    for body in bodies:
        with db.write() as session:
            returns.create_return(session, body, policy, NOW, "bench")
    return rate(len(bodies), time.perf_counter() - started)


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start within 30 seconds")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def running_app(db: Database, url: str) -> Iterator[str]:
    settings = Settings(mode="demo", database_url=url)
    with serve_app(create_app(settings, db, lambda: NOW)) as base:
        yield base


def post_returns(base: str, candidates: Sequence[Candidate]) -> tuple[int, list[str]]:
    """POST each return; (created, error descriptions)."""
    created = 0
    errors: list[str] = []
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        for candidate in candidates:
            response = client.post(
                "/api/v1/returns", json=return_body(candidate).model_dump(mode="json")
            )
            if response.status_code == 201:
                created += 1
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")
    return created, errors


def bench_http_create(base: str, candidates: Sequence[Candidate], clients: int) -> dict[str, Any]:
    shares = [list(candidates[i::clients]) for i in range(clients)]
    results: list[tuple[int, list[str]]] = [(0, []) for _ in range(clients)]

    def work(index: int) -> None:
        results[index] = post_returns(base, shares[index])

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    created = sum(r[0] for r in results)
    errors = [e for r in results for e in r[1]]
    for error in errors[:5]:
        log(f"  error: {error}")
    return rate(created, seconds, clients=clients, errors=len(errors))


def bench_get(base: str, paths: Sequence[str], warmup: int = 20) -> dict[str, Any]:
    samples: list[float] = []
    errors = 0
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        for path in paths[:warmup]:
            client.get(path)
        for path in paths:
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors += 1
    return {**latency(samples), "errors": errors}


def sample_ids(db: Database, column: Any, count: int, rng: random.Random) -> list[str]:
    with db.read() as session:
        ids = list(session.scalars(select(column)))
    return [rng.choice(ids) for _ in range(count)] if ids else []


# ---- main --------------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def timed(step: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    log(f"{step} …")
    result = fn()
    log(f"{step}: {json.dumps(result)}")
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)
    with scratch_database(args.database_url) as url:
        db = Database.from_settings(Settings(mode="demo", database_url=url))
        try:
            upgrade(db.engine)
            log(f"loading {args.customers:,} demo customers into {db.dialect}")
            summary = load_demo(
                db, customers=args.customers, seed=SEED, now=NOW, console=Console(stderr=True)
            )
            log(summary.describe())
            facts = engine_facts(db)

            candidates = returnable_orders(db, rng)
            wanted = [args.service_returns, args.http_returns, args.http_returns]
            if sum(wanted) > len(candidates):
                scale = len(candidates) / sum(wanted)
                wanted = [int(n * scale) for n in wanted]
                log(f"only {len(candidates)} returnable orders; measuring {wanted}")
            first, second = wanted[0], wanted[0] + wanted[1]
            third = second + wanted[2]

            result: dict[str, Any] = {
                "benchmark": "ledger",
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine_facts(),
                "database": facts,
                "customers": summary.customers,
                "orders": summary.orders,
                "returns_loaded": summary.returns,
                "load_seconds": round(summary.seconds, 2),
                "load_customers_per_second": round(summary.customers / summary.seconds),
            }
            result["service_create_return"] = timed(
                "service create_return", lambda: bench_service(db, candidates[:first])
            )
            result["app"] = {
                "server": "uvicorn, 1 process, in a thread of the benchmark process",
                "embedded_outbox_worker": Settings(mode="demo", database_url=url).embedded_worker,
            }
            with running_app(db, url) as base:
                result["http_create_return_sequential"] = timed(
                    "HTTP POST /api/v1/returns, 1 client",
                    lambda: bench_http_create(base, candidates[first:second], 1),
                )
                result["http_create_return_concurrent"] = timed(
                    f"HTTP POST /api/v1/returns, {args.clients} clients",
                    lambda: bench_http_create(base, candidates[second:third], args.clients),
                )
                return_ids = sample_ids(db, Return.public_id, args.reads, rng)
                customer_ids = sample_ids(db, Customer.public_id, args.reads, rng)
                result["http_get_return"] = timed(
                    "HTTP GET /api/v1/returns/{id}",
                    lambda: bench_get(base, [f"/api/v1/returns/{i}" for i in return_ids]),
                )
                result["http_customer_returns"] = timed(
                    "HTTP GET /api/v1/customers/{id}/returns",
                    lambda: bench_get(
                        base, [f"/api/v1/customers/{i}/returns" for i in customer_ids]
                    ),
                )
            return result
        finally:
            db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=100_000, help="demo size")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server URL (a scratch database is created and dropped there); "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--service-returns", type=int, default=1000)
    parser.add_argument("--http-returns", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--reads", type=int, default=2000, help="GET requests per endpoint")
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    return emit(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
