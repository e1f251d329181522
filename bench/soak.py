"""Soak: the January peak, sustained. Webhooks, Gladly lookups, API reads and outbound
deliveries together on one `returnhub serve` with its embedded worker, for minutes on end.

Run: .venv/bin/python bench/soak.py [--minutes 10] [--interval 20] [--database-url URL]
     [--customers 20000] [--webhooks 100] [--lookups 50] [--reads 10] [--fail-rate 0.05]
     [--workers N] [--reuse PATH]

Starts, on 127.0.0.1 only:
- a webhook subscriber (a subprocess of this script) that answers 503 to ``--fail-rate`` of the
  deliveries and records every `webhook-id` it acknowledged, to check exactly-once delivery;
- `returnhub serve` (embedded worker on) on a fresh database: a temporary SQLite file holding a
  ``--customers`` demo (``--reuse PATH`` keeps and reuses that file between runs), or with
  ``--database-url postgresql+psycopg://user@host:port/any`` a scratch database on that server,
  dropped afterwards; a subscription of every event type points at the subscriber;
- ``--workers N`` extra `returnhub worker` processes (for PostgreSQL).

Then for ``--minutes`` it sends, open-loop at fixed rates (a request late because every
connection of its kind is busy waits, and its latency counts from when it was due):
- signed Loop webhooks in Loop's real shape (`edited_at` null): each return is created, then
  updated to in transit, then closed, about 1.5 s apart, for the demo's customers;
- signed Gladly DETAILED lookups of random demo customers;
- API reads (`GET /api/v1/customers/{id}`).

Every ``--interval`` seconds it prints (stderr) and records: the server's RSS, open fds and
threads; p99 and counts per request kind in the interval (and answers other than 2xx, e.g. 429
when intake pushes back); outbox jobs by status; the age of the oldest due job and of the
oldest event accepted but not yet applied; the database's size. After the load it measures the
drain: until every accepted event is applied and every delivery done. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from common import RawConnection, cpu_seconds, emit, free_port, log, server_process
from ledger import machine_facts, scratch_database
from lookup import LOOKUP, prepare, signed

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "loop" / "real_return_created.json"
LOOP_SECRET = "soak-loop-webhook-secret-" + "x" * 24
GLADLY_KEY = "soak-gladly-signing-key-" + "y" * 24
API_KEY = "rh_demo_admin_key"
STEP_GAP = 50  # new returns between one step of a return and its next (~1.5 s at 100/s)


# ---- the subscriber ----------------------------------------------------------------------------


def run_subscriber(port: int, fail_rate: float, record: Path) -> None:
    """Answers deliveries: 503 to ``fail_rate`` of them, else 204; appends "<id> <status>"."""
    rng = random.Random(7)
    lock = threading.Lock()
    out = record.open("a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                status = 503 if rng.random() < fail_rate else 204
                out.write(f"{self.headers.get('webhook-id', '')} {status}\n")
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


@contextmanager
def subscriber(fail_rate: float, record: Path) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, __file__, "--subscriber", str(port), "--fail-rate", str(fail_rate)]
    proc = subprocess.Popen([*command, "--record", str(record)])
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        deadline = time.monotonic() + 20
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the subscriber did not come up")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


# ---- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


class Webhooks:
    """Loop's real return shape for the demo's customers: each return is created, then updated
    to in transit STEP_GAP returns later, then closed STEP_GAP after that; in the steady state a
    third of the webhooks create returns and two thirds move them on."""

    def __init__(self, emails: Sequence[str], rng: random.Random) -> None:
        self.base = json.loads(FIXTURE.read_text())
        self.emails = emails
        self.run = rng.randrange(10**6)
        self.created = 0
        self.due: deque[tuple[int, int, int]] = deque()  # (due at send number, return, step)
        self.sent = 0

    def next(self) -> Request:
        self.sent += 1
        if self.due and self.due[0][0] <= self.sent:
            _, number, step = self.due.popleft()
        else:
            number, step = self.created, 0
            self.created += 1
            self.due.append((self.sent + 3 * STEP_GAP, number, 1))
            self.due.append((self.sent + 6 * STEP_GAP, number, 2))
        rid = f"{self.run}{number:08d}"
        state, label, trigger = [
            ("open", "new", "return.created"),
            ("open", "in_transit", "return.updated"),
            ("closed", "delivered", "return.closed"),
        ][step]
        email = self.emails[(number * 7919) % len(self.emails)]
        payload = {
            **self.base,
            "id": int(rid),
            "trigger": trigger,
            "state": state,
            "label_status": label,
            "label_updated_at": None if step == 0 else f"2026-11-1{step}T10:00:00+00:00",
            "order_name": f"#S{rid}",
            "customer": email,
            "customer_detail": {**self.base["customer_detail"], "email": email},
        }
        body = json.dumps(payload).encode()
        signature = base64.b64encode(hmac.new(LOOP_SECRET.encode(), body, hashlib.sha256).digest())
        return Request(
            "POST",
            "/webhooks/loop",
            {"content-type": "application/json", "x-loop-signature": signature.decode()},
            body,
        )


class Lookups:
    def __init__(self, customer_ids: Sequence[str], rng: random.Random) -> None:
        self.ids = customer_ids
        self.rng = rng
        self.sent = 0

    def next(self) -> Request:
        self.sent += 1
        payload = {
            "lookupLevel": "DETAILED",
            "query": {"externalCustomerId": self.rng.choice(self.ids)},
            "uniqueMatchRequired": True,
        }
        request = signed(GLADLY_KEY, payload, self.sent)
        return Request("POST", LOOKUP, request.headers, request.body)


class Reads:
    def __init__(self, customer_ids: Sequence[str], rng: random.Random) -> None:
        self.ids = customer_ids
        self.rng = rng

    def next(self) -> Request:
        path = f"/api/v1/customers/{self.rng.choice(self.ids)}"
        return Request("GET", path, {"authorization": f"Bearer {API_KEY}"})


@dataclass
class Kind:
    name: str
    rate: float
    make: Callable[[], Request]
    connections: int
    samples: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: list[float] = field(default_factory=list)
    all_samples: list[float] = field(default_factory=list)

    def take(self) -> tuple[list[float], Counter[int]]:
        samples, statuses = self.samples, self.statuses
        self.samples, self.statuses = [], Counter()
        return samples, statuses


async def drive(kind: Kind, base: str, until: float) -> None:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    idle: asyncio.Queue[RawConnection] = asyncio.Queue()
    for _ in range(kind.connections):
        idle.put_nowait(RawConnection(host, int(port)))
    tasks: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        connection = await idle.get()
        try:
            request = kind.make()
            status, fields, _ = await connection.send(
                request.method, request.path, request.headers, request.body
            )
        finally:
            idle.put_nowait(connection)
        latency = time.perf_counter() - due
        kind.samples.append(latency)
        kind.all_samples.append(latency)
        kind.statuses[status] += 1
        if "retry-after" in fields:
            with suppress(ValueError):
                kind.retry_after.append(float(fields["retry-after"]))

    started = time.perf_counter()
    sent = 0
    while True:
        due = started + sent / kind.rate
        if due >= until:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    if tasks:
        await asyncio.gather(*tasks)
    while not idle.empty():
        await idle.get_nowait().close()


# ---- what the server and the database look like --------------------------------------------


def process_facts(pid: int) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                facts["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("Threads:"):
                facts["threads"] = int(line.split()[1])
        facts["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    facts["cpu_seconds"] = round(cpu_seconds(pid), 1)
    return facts


class Watcher:
    """Reads the outbox, the inbox and the database size directly from the database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=1, max_overflow=0)

    def facts(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            by_status = dict(
                conn.execute(text("SELECT status, count(*) FROM outbox_jobs GROUP BY status")).all()
            )
            # Due and free to run: a job queued behind an earlier job of its lane (a delivery
            # waiting for the retry of the one before it) is not waiting for the worker.
            due = conn.execute(
                text(
                    "SELECT min(j.next_attempt_at) FROM outbox_jobs j "
                    "WHERE j.status = 'pending' AND j.next_attempt_at <= :now AND ("
                    "j.lock_key IS NULL OR NOT EXISTS (SELECT 1 FROM outbox_jobs e "
                    "WHERE e.lock_key = j.lock_key AND e.id < j.id "
                    "AND e.status IN ('pending', 'in_flight')))"
                ),
                {"now": now},
            ).scalar()
            unapplied, oldest = conn.execute(
                text(
                    "SELECT count(*), min(received_at) FROM inbox_events WHERE status = 'received'"
                )
            ).one()
            size = self.size(conn)
        return {
            "outbox": {str(k): int(v) for k, v in sorted(by_status.items())},
            "oldest_due_job_s": round(_age(now, due), 2),
            "unapplied_events": int(unapplied),
            "oldest_unapplied_s": round(_age(now, oldest), 2),
            "database_mib": round(size / 2**20, 1),
        }

    def size(self, conn: Any) -> int:
        if self.url.startswith("sqlite"):
            path = Path(self.url.split(":///", 1)[1])
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())

    def outcome(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            inbox = dict(
                conn.execute(
                    text("SELECT status, count(*) FROM inbox_events GROUP BY status")
                ).all()
            )
            jobs = dict(
                conn.execute(
                    text(
                        "SELECT kind || ':' || status, count(*) FROM outbox_jobs "
                        "GROUP BY kind, status"
                    )
                ).all()
            )
        return {"inbox": inbox, "jobs": jobs}

    def close(self) -> None:
        self.engine.dispose()


def _age(now: datetime, then: Any) -> float:
    if then is None:
        return 0.0
    if isinstance(then, str):
        then = datetime.fromisoformat(then)
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def p99_ms(samples: Sequence[float]) -> float | None:
    if len(samples) < 2:
        return round(samples[0] * 1000, 1) if samples else None
    return round(statistics.quantiles(samples, n=100)[98] * 1000, 1)


# ---- the run -----------------------------------------------------------------------------------


def hub_env(url: str, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env.update(
        RETURNHUB_MODE="demo",
        RETURNHUB_DATABASE_URL=url,
        RETURNHUB_LOOP_WEBHOOK_SECRET=LOOP_SECRET,
        RETURNHUB_GLADLY_SIGNING_KEY=GLADLY_KEY,
        # Lookups are signed once, before the run, with a fixed Gladly-Time.
        RETURNHUB_GLADLY_SIGNATURE_MAX_AGE_SECONDS="0",
        RETURNHUB_EMBEDDED_WORKER="false" if args.no_embedded else "true",
        RETURNHUB_OUTBOX_RETRY_DELAYS=args.retry_delays,
        RETURNHUB_LOG_LEVEL="WARNING",
        RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",  # the subscriber listens on loopback
    )
    for setting in args.setting:
        name, _, value = setting.partition("=")
        env[f"RETURNHUB_{name.upper()}"] = value
    return env


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(11)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="returnhub-soak-")))
        if args.database_url:
            url = stack.enter_context(scratch_database(args.database_url))
        else:
            url = f"sqlite:///{tmp / 'soak.db'}"
            if args.reuse and Path(args.reuse).exists():
                log(f"copying {args.reuse}")
                shutil.copy(args.reuse, tmp / "soak.db")
        data = prepare(url, args.customers, rng, analyze=False)
        if args.reuse and not args.database_url and not Path(args.reuse).exists():
            shutil.copy(tmp / "soak.db", args.reuse)
        record = tmp / "deliveries.txt"
        hook_url = stack.enter_context(subscriber(args.fail_rate, record))
        env = hub_env(url, args)
        command = [str(Path(sys.executable).parent / "returnhub"), "serve", "--host", "127.0.0.1"]
        server = stack.enter_context(server_process([*command, "--port"], env, tmp / "serve.log"))
        workers = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "returnhub"), "worker"],
                env=env,
                stdout=(tmp / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
                cwd=tmp,
            )
            for i in range(args.workers)
        ]
        stack.callback(lambda: [w.terminate() for w in workers])
        created = httpx.post(
            f"{server.base}/api/v1/webhook-subscriptions",
            json={"url": hook_url, "event_types": ["*"]},
            headers={"authorization": f"Bearer {API_KEY}"},
        )
        created.raise_for_status()
        watcher = Watcher(url)
        stack.callback(watcher.close)
        kinds = [
            Kind("webhook", args.webhooks, Webhooks(data.emails, rng).next, 32),
            Kind("lookup", args.lookups, Lookups(data.customer_ids, rng).next, 16),
            Kind("read", args.reads, Reads(data.customer_ids, rng).next, 4),
        ]
        seconds = args.minutes * 60
        log(
            f"load for {seconds:.0f} s: {args.webhooks}/s webhooks, {args.lookups}/s lookups, "
            f"{args.reads}/s reads against {server.base} ({data.customers:,} customers)"
        )
        intervals: list[dict[str, Any]] = []
        started = time.perf_counter()
        until = started + seconds
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(args.interval):
                row: dict[str, Any] = {"t": round(time.perf_counter() - started)}
                row.update(process_facts(server.pid))
                for kind in kinds:
                    samples, statuses = kind.take()
                    row[kind.name] = {
                        "n": len(samples),
                        "p99_ms": p99_ms(samples),
                        "not_2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300),
                    }
                row.update(watcher.facts())
                intervals.append(row)
                log(json.dumps(row))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def load() -> None:
            await asyncio.gather(*(drive(kind, server.base, until) for kind in kinds))

        asyncio.run(load())
        stop.set()
        sampler.join()
        loaded = time.perf_counter() - started
        log("load stopped; draining")
        drain_started = time.perf_counter()
        applied_after: float | None = None
        caught_up_after: float | None = None
        done_after: float | None = None
        while time.perf_counter() - drain_started < args.drain_timeout:
            facts = watcher.facts()
            outbox = facts["outbox"]
            waited = time.perf_counter() - drain_started
            if applied_after is None and facts["unapplied_events"] == 0:
                applied_after = waited
            if (
                caught_up_after is None
                and applied_after is not None
                and facts["oldest_due_job_s"] == 0
                and outbox.get("in_flight", 0) == 0
            ):
                caught_up_after = waited  # only retries scheduled for later are left
            if outbox.get("pending", 0) + outbox.get("in_flight", 0) == 0:
                done_after = waited
                break
            time.sleep(0.5)
        outcome = watcher.outcome()
        acknowledged = Counter(
            line.split()[0] for line in record.read_text().splitlines() if line.endswith(" 204")
        )
        summary = {
            kind.name: {
                "sent": len(kind.all_samples),
                "rate_per_s": round(len(kind.all_samples) / loaded, 1),
                "p50_ms": round(statistics.median(kind.all_samples) * 1000, 1)
                if kind.all_samples
                else None,
                "p99_ms": p99_ms(kind.all_samples),
                "retry_after_answers": len(kind.retry_after),
            }
            for kind in kinds
        }
        worst = {
            "oldest_due_job_s": max((r["oldest_due_job_s"] for r in intervals), default=0),
            "oldest_unapplied_s": max((r["oldest_unapplied_s"] for r in intervals), default=0),
            "rss_mib": [min(r["rss_mib"] for r in intervals), max(r["rss_mib"] for r in intervals)]
            if intervals
            else None,
        }
        return {
            "benchmark": "soak",
            "engine": "postgresql" if args.database_url else "sqlite",
            "minutes": args.minutes,
            "customers": data.customers,
            "rates_per_s": {
                "webhooks": args.webhooks,
                "lookups": args.lookups,
                "reads": args.reads,
            },
            "extra_worker_processes": args.workers,
            "subscriber_fail_rate": args.fail_rate,
            "retry_delays": args.retry_delays,
            "settings": args.setting,
            "requests": summary,
            "worst": worst,
            "drain_s": {
                "events_applied": _rounded(applied_after),
                "due_jobs_done": _rounded(caught_up_after),
                "all_jobs_done_incl_retries": _rounded(done_after),
            },
            "outcome": outcome,
            "deliveries": {
                "acknowledged_ids": len(acknowledged),
                "acknowledged_twice": sum(1 for n in acknowledged.values() if n > 1),
            },
            "intervals": intervals,
            "machine": machine_facts(),
            "server_cpu_seconds": round(cpu_seconds(server.pid), 1),
        }
    raise AssertionError("unreachable")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=20.0, help="seconds between samples")
    parser.add_argument("--database-url", help="a PostgreSQL server (scratch database on it)")
    parser.add_argument("--reuse", help="SQLite: keep the loaded demo here and reuse it")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--webhooks", type=float, default=100.0, help="per second")
    parser.add_argument("--lookups", type=float, default=50.0, help="per second")
    parser.add_argument("--reads", type=float, default=10.0, help="per second")
    parser.add_argument("--fail-rate", type=float, default=0.05, help="subscriber 503 share")
    parser.add_argument("--retry-delays", default="5,30,120,600", help="outbox retry seconds")
    parser.add_argument("--workers", type=int, default=0, help="extra `returnhub worker`s")
    parser.add_argument("--no-embedded", action="store_true", help="embedded worker off")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        help="NAME=VALUE for the server, e.g. intake_max_backlog_seconds=30; repeatable",
    )
    parser.add_argument("--subscriber", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.subscriber:
        run_subscriber(args.subscriber, args.fail_rate, Path(args.record))
        return 0
    return emit(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
