"""Self-service guide benchmark: intent accuracy on the corpus, and in-process replies per second.

Run: .venv/bin/python bench/guide.py [--customers N] [--conversations N] [--database-url URL]

1. Accuracy: ``RuleClassifier`` over tests/fixtures/guide/corpus.jsonl (every line, labelled by
   hand), per intent and overall; plus classifications per second over the corpus (5 rounds, best);
   and the same per set for tests/fixtures/guide/holdout.jsonl (30 messages written after the
   first tuning) and holdout2.jsonl (90 messages written before the classifier was generalised,
   and never used to tune it).
2. Replies: a temporary SQLite file (or a scratch PostgreSQL database with --database-url, dropped
   afterwards) migrated and filled with ``load_demo`` (seed 1). Each conversation is started for a
   random demo customer by email (chat, email or SMS at random) and gets 3 messages drawn from the
   corpus (seed 1). Every message is a full turn: ``services.guide.handle_message`` in its own write
   transaction (classify, read the ledger, decide, create return links or allowlist entries or a
   routing decision, write both messages and the state). No HTTP: this is the service's own cost.
   The first 20 messages warm up and are not counted.

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, make_url, select

from returnhub.demo import load_demo
from returnhub.domain.intents import RuleClassifier
from returnhub.domain.rules import Channel
from returnhub.runtime import AppContext
from returnhub.services import guide
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import CustomerEmail

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEED = 1
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "guide"
CORPUS = FIXTURES / "corpus.jsonl"
# 30 messages written after the classifier was tuned on the corpus; its first (blind) score was
# 21/30. Its misses were then looked at, so it is not blind any more: see docs/benchmarks.md.
HOLDOUT = FIXTURES / "holdout.jsonl"
# 90 messages written before the classifier was generalised; not used to tune it.
HOLDOUT2 = FIXTURES / "holdout2.jsonl"
WARMUP = 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def corpus(path: Path = CORPUS) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def accuracy(rows: list[dict[str, str]]) -> dict[str, Any]:
    classifier = RuleClassifier()
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    confusions: Counter[str] = Counter()
    for row in rows:
        got = classifier.classify(row["text"]).intent.value
        total[row["intent"]] += 1
        if got == row["intent"]:
            right[row["intent"]] += 1
        else:
            confusions[f"{row['intent']}->{got}"] += 1
    rates = []
    for _ in range(5):
        started = time.perf_counter()
        for row in rows:
            classifier.classify(row["text"])
        rates.append(len(rows) / (time.perf_counter() - started))
    return {
        "messages": len(rows),
        "overall": round(sum(right.values()) / len(rows), 4),
        "per_intent": {
            intent: {"n": n, "accuracy": round(right[intent] / n, 4)}
            for intent, n in sorted(total.items())
        },
        "confusions": dict(confusions.most_common()),
        "classifications_per_second_best": round(max(rates)),
    }


@contextmanager
def scratch_database(database_url: str | None) -> Iterator[str]:
    if not database_url:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'guide.db'}"
        return
    url = make_url(database_url)
    name = f"rh_bench_guide_{secrets.token_hex(4)}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def replies(db: Database, settings: Settings, conversations: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    texts = [row["text"] for row in corpus()]
    context = AppContext(settings=settings, db=db)
    policy = context.policy
    with db.read() as session:
        emails = list(session.scalars(select(CustomerEmail.email).order_by(CustomerEmail.id)))
    channels = [Channel.CHAT, Channel.EMAIL, Channel.SMS]
    timings: list[float] = []
    cpu: list[float] = []
    intents: Counter[str] = Counter()
    handoffs = 0
    sent = 0
    statements: list[int] = []
    issued = [0]

    # Round trips are what a turn costs on PostgreSQL, so count the statements each turn sends.
    def count(*_: Any) -> None:
        issued[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    started_all = time.perf_counter()
    for _ in range(conversations):
        email = rng.choice(emails)
        channel = rng.choice(channels)
        with db.write() as session:
            conversation_id = guide.start(session, settings, channel, email, None).public_id
        for _ in range(3):
            text = rng.choice(texts)
            issued[0] = 0
            started, started_cpu = time.perf_counter(), time.process_time()
            with db.write() as session:
                reply = guide.handle_message(session, settings, policy, conversation_id, text, NOW)
            elapsed = time.perf_counter() - started
            elapsed_cpu = time.process_time() - started_cpu
            sent += 1
            if sent <= WARMUP:
                continue
            timings.append(elapsed)
            statements.append(issued[0])
            cpu.append(elapsed_cpu)
            intents[reply.intent.value] += 1
            handoffs += reply.handoff is not None
    wall = time.perf_counter() - started_all
    event.remove(db.engine, "before_cursor_execute", count)
    timings.sort()
    cpu.sort()

    def pct(p: float, values: list[float] = timings) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 3)

    return {
        "conversations": conversations,
        "messages_timed": len(timings),
        "replies_per_second": round(len(timings) / sum(timings), 1),
        "replies_per_second_wall_incl_conversation_start": round(sent / wall, 1),
        "latency_ms": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "max": round(timings[-1] * 1000, 3),
            "mean": round(statistics.fmean(timings) * 1000, 3),
        },
        # This process's CPU per message (a busy machine does not inflate it; the database
        # server's own work on PostgreSQL is not in it).
        "client_cpu_ms": {"p50": pct(0.50, cpu), "p99": pct(0.99, cpu)},
        "statements_per_turn": {
            "mean": round(statistics.fmean(statements), 2),
            "p50": sorted(statements)[len(statements) // 2],
            "max": max(statements),
        },
        "reply_intents": dict(intents.most_common()),
        "handoffs": handoffs,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = corpus()
    log(f"classifying {len(rows)} corpus messages …")
    acc = accuracy(rows)
    for name, path in (("holdout", HOLDOUT), ("holdout2", HOLDOUT2)):
        held = accuracy(corpus(path))
        acc[name] = {
            "messages": held["messages"],
            "overall": held["overall"],
            "per_intent": held["per_intent"],
            "confusions": held["confusions"],
        }
    with scratch_database(args.database_url) as url:
        # The email channel as an authenticated one, as the figures before this setting were.
        settings = Settings(
            mode="demo", database_url=url, embedded_worker=False, guide_trust_email_sender=True
        )
        db = Database.from_settings(settings)
        try:
            upgrade(db.engine)
            log(f"loading {args.customers:,} demo customers into {db.dialect}")
            summary = load_demo(db, customers=args.customers, seed=SEED, now=NOW)
            log(f"{args.conversations:,} conversations x 3 messages …")
            turns = replies(db, settings, args.conversations)
            dialect = db.dialect
        finally:
            db.dispose()
    return {
        "benchmark": "guide",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "intent_accuracy": acc,
        "replies": {
            "database": dialect,
            "customers": args.customers,
            "orders": summary.orders,
            "returns": summary.returns,
            **turns,
        },
        "targets": {
            "accuracy": 0.90,
            "p99_ms": 20,
            "accuracy_met": acc["overall"] >= 0.90,
            "p99_met": turns["latency_ms"]["p99"] < 20,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--database-url", default=os.environ.get("RETURNHUB_BENCH_DATABASE_URL"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
