"""Routing benchmark: rule evaluations per second in-process, and the HTTP endpoint's latency.

Run: .venv/bin/python bench/routing.py [--facts N] [--customers N] [--requests N]
                                       [--database-url URL]

1. In-process: the shipped default rules (returnhub/rules/default.yaml) evaluated over the facts of
   100,000 generated customers (seed 1; facts built by ``domain.routing.routing_facts`` from
   generated snapshots, so they have exactly the shapes the service produces). Each evaluation
   returns the full decision: queue, priority, tags, actions, reason text and trace. Fact
   generation is not timed. Five rounds over all facts; the best and the median are reported,
   by wall clock and by this process's CPU time (which a busy machine does not inflate).
2. HTTP: ``POST /api/v1/routing/evaluate`` on the real app under uvicorn (a thread of this
   process, 127.0.0.1, demo mode and key) over a demo database of 2,000 customers (``load_demo``,
   seed 1) in a temporary SQLite file, or a scratch PostgreSQL database with --database-url
   (dropped afterwards). 50 warm-up requests, then sequential requests for random customers
   (4 in 5 by customer_id, 1 in 5 by email), each on a random channel.

Prints one JSON object on stdout; progress goes to stderr. All traffic stays on 127.0.0.1 and every
loop is bounded. Client and server share one process (one GIL) on the machine, so the latency is a
ceiling for what a separate server process would show.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

# Shared helpers; bench/ is on sys.path when a script here runs.
from common import emit
from ledger import engine_facts, log, scratch_database, serve_app
from returnhub.api.app import create_app
from returnhub.demo import load_demo
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome
from returnhub.domain.routing import (
    Contact,
    CustomerSnapshot,
    OrderSnapshot,
    ReturnSnapshot,
    routing_facts,
)
from returnhub.domain.rules import Channel, RuleSet
from returnhub.services.routing import DEFAULT_RULES_FILE, load_rules_file
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import Customer, CustomerEmail

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEED = 1
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
ROUNDS = 5
TEXTS = (
    "",
    "Where is my refund?",
    "I want to return the jacket, it is too small",
    "Can I exchange for a size M?",
    "My parcel says delivered but I never got it",
    "cancel my return please",
)
STATE_WEIGHTS = {
    ReturnState.REQUESTED: 8,
    ReturnState.AUTHORIZED: 10,
    ReturnState.IN_TRANSIT: 10,
    ReturnState.RECEIVED: 8,
    ReturnState.FLAGGED: 2,
    ReturnState.PROCESSED: 10,
    ReturnState.CLOSED: 40,
    ReturnState.REJECTED: 3,
    ReturnState.CANCELLED: 6,
    ReturnState.EXPIRED: 3,
}
CAME_BACK = frozenset(
    {ReturnState.RECEIVED, ReturnState.FLAGGED, ReturnState.PROCESSED, ReturnState.CLOSED}
)


def _return(rng: random.Random, index: int) -> ReturnSnapshot:
    state = rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
    outcome = rng.choices(list(Outcome), weights=[60, 30, 7, 3])[0]
    created = NOW - timedelta(days=rng.uniform(1, 200))
    received = created + timedelta(days=rng.uniform(2, 10)) if state in CAME_BACK else None
    if received is not None and received > NOW:
        received = NOW - timedelta(hours=1)
    if outcome is Outcome.EXCHANGE:
        refund_state = "none"
    elif state in (ReturnState.REJECTED, ReturnState.CANCELLED, ReturnState.EXPIRED):
        refund_state = "void"
    elif state is ReturnState.CLOSED or (state is ReturnState.PROCESSED and rng.random() < 0.7):
        refund_state = "issued"
    else:
        refund_state = "pending"
    return ReturnSnapshot(
        id=index,
        state=state,
        refund_state=refund_state,
        refund_amount=0 if outcome is Outcome.EXCHANGE else rng.randrange(1500, 30000),
        created_at=created,
        updated_at=max(created, received or created) + timedelta(hours=rng.uniform(0, 48)),
        received_at=received,
        outcomes=(outcome.value,),
    )


def generated_facts(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    facts = []
    next_id = 1
    for _ in range(count):
        returns = []
        for _ in range(rng.choices((0, 1, 2, 3), weights=(60, 28, 9, 3))[0]):
            returns.append(_return(rng, next_id))
            next_id += 1
        order = None
        if rng.random() < 0.9:
            delivered = NOW - timedelta(days=rng.uniform(0, 150)) if rng.random() < 0.92 else None
            order = OrderSnapshot(rng.randrange(1500, 60000), delivered)
        tags = ("vip",) if rng.random() < 0.05 else ()
        snapshot = CustomerSnapshot(tags, tuple(returns), order)
        contact = Contact(rng.choice(list(Channel)), rng.choice(TEXTS))
        facts.append(routing_facts(contact, snapshot, NOW))
    return facts


def bench_in_process(rules: RuleSet, facts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    evaluate = rules.evaluate
    rates, cpu_rates = [], []
    for _ in range(ROUNDS):
        started, cpu_started = time.perf_counter(), time.process_time()
        for item in facts:
            evaluate(item)
        rates.append(len(facts) / (time.perf_counter() - started))
        cpu_rates.append(len(facts) / (time.process_time() - cpu_started))
    decisions = [evaluate(item) for item in facts]
    by_rule = Counter(d.rule for d in decisions)
    trace = [len(d.trace) for d in decisions]
    return {
        "facts": len(facts),
        "rounds": ROUNDS,
        "evaluations_per_second_best": round(max(rates)),
        "evaluations_per_second_median": round(statistics.median(rates)),
        "evaluations_per_second_worst": round(min(rates)),
        # CPU time leaves out the time other processes took the core: the capacity of one core.
        "evaluations_per_cpu_second_median": round(statistics.median(cpu_rates)),
        "decisions_by_rule": dict(by_rule.most_common()),
        "trace_entries_mean": round(statistics.fmean(trace), 2),
        "trace_entries_max": max(trace),
    }


# ---- HTTP --------------------------------------------------------------------------------------


@contextmanager
def running_app(db: Database, settings: Settings) -> Iterator[str]:
    with serve_app(create_app(settings, db, lambda: NOW, worker=False)) as base:
        yield base


def request_bodies(db: Database, count: int, rng: random.Random) -> list[dict[str, Any]]:
    with db.read() as session:
        ids = list(session.scalars(select(Customer.public_id).order_by(Customer.id)))
        emails = list(session.scalars(select(CustomerEmail.email).order_by(CustomerEmail.id)))
    bodies = []
    for _ in range(count):
        who = (
            {"email": rng.choice(emails)}
            if rng.random() < 0.2
            else {"customer_id": rng.choice(ids)}
        )
        contact = {"channel": rng.choice(list(Channel)).value, "text": rng.choice(TEXTS)}
        bodies.append({"contact": contact, "customer": who})
    return bodies


def bench_http(base: str, bodies: Sequence[dict[str, Any]], warmup: int) -> dict[str, Any]:
    samples: list[float] = []
    errors = 0
    queues: Counter[str] = Counter()
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        for body in bodies[:warmup]:
            client.post("/api/v1/routing/evaluate", json=body)
        for body in bodies:
            started = time.perf_counter()
            response = client.post("/api/v1/routing/evaluate", json=body)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code == 200:
                queues[f"{response.json()['queue']}/{response.json()['priority']}"] += 1
            else:
                errors += 1
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "requests": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(cuts[98], 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "max_ms": round(max(samples), 2),
        "requests_per_second": round(len(samples) / (sum(samples) / 1000), 1),
        "errors": errors,
        "decisions": dict(queues.most_common()),
    }


# ---- main --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    rules = load_rules_file(DEFAULT_RULES_FILE)
    log(f"generating facts for {args.facts:,} customers")
    facts = generated_facts(args.facts, SEED)
    log("evaluating in-process …")
    in_process = bench_in_process(rules, facts)
    log(f"in-process: {json.dumps(in_process)}")

    with scratch_database(args.database_url) as url:
        settings = Settings(mode="demo", database_url=url, embedded_worker=False)
        db = Database.from_settings(settings)
        try:
            upgrade(db.engine)
            log(f"loading {args.customers:,} demo customers into {db.dialect}")
            summary = load_demo(db, customers=args.customers, seed=SEED, now=NOW)
            bodies = request_bodies(db, args.requests, random.Random(SEED))
            with running_app(db, settings) as base:
                log(f"POST /api/v1/routing/evaluate, {args.requests:,} requests …")
                http = bench_http(base, bodies, warmup=50)
            log(f"http: {json.dumps(http)}")
            engine = engine_facts(db)
        finally:
            db.dispose()
    return {
        "benchmark": "routing",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "rules": {"file": "returnhub/rules/default.yaml", "count": len(rules.rules)},
        "in_process": in_process,
        "http": {
            "database": engine,
            "customers": args.customers,
            "orders": summary.orders,
            "returns": summary.returns,
            **http,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--facts", type=int, default=100_000, help="customers' facts in-process")
    parser.add_argument("--customers", type=int, default=2000, help="demo size for HTTP")
    parser.add_argument("--requests", type=int, default=3000, help="HTTP requests (bounded)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server URL (a scratch database is created and dropped there); "
        "default: a temporary SQLite file",
    )
    args = parser.parse_args(argv)
    if min(args.facts, args.customers, args.requests) < 1:
        parser.error("--facts, --customers and --requests must be at least 1")
    args.requests = min(args.requests, 50_000)
    return emit(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
