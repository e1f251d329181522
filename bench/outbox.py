"""Outbox delivery benchmark: webhook deliveries per second from ONE worker process.

Run: .venv/bin/python bench/outbox.py [--jobs N] [--concurrency C] [--database-url URL]

Enqueues N `webhook.deliver` jobs (N domain events recorded through services.events.record_event,
which fans each out to the one active subscription, in transactions of 1,000) in a fresh temporary
SQLite file, or with --database-url postgresql+psycopg://user@host:port/any in a scratch database
on that server that is dropped afterwards. The subscription points at a fast threaded HTTP/1.1
receiver in this process on 127.0.0.1 that answers 200 at once. Then it starts ONE
`returnhub worker --concurrency C` subprocess (the real CLI, default settings otherwise) and polls
the database until every job has succeeded.

- deliveries_per_second: N / (all succeeded - worker process start); includes interpreter start,
  imports and the migration check (the startup figure says how long that was);
- steady_deliveries_per_second: between the first and the last delivery the receiver saw.

Checks that every event arrived exactly once. Prints one JSON object on stdout; progress goes to
stderr. Only 127.0.0.1 traffic; every wait is bounded; the subprocess, the receiver and the
temporary database are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Shared helpers; bench/ is on sys.path when a script here runs.
from ledger import engine_facts, log, scratch_database
from returnhub.delivery import health, outbox
from returnhub.domain.events import EventType
from returnhub.services import subscriptions
from returnhub.services.events import record_event
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.types import utcnow

TARGET_PER_SECOND = 500


# ---- the receiver -----------------------------------------------------------------------------


class Receiver:
    """Answers every POST with 200 at once; keeps the webhook-id and arrival time of each."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    receiver.arrivals.append(
                        (time.perf_counter(), self.headers.get("webhook-id", ""))
                    )
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# ---- databases --------------------------------------------------------------------------------


def migrate(url: str) -> None:
    db = Database.from_settings(Settings(database_url=url))
    try:
        upgrade(db.engine)
    finally:
        db.dispose()


def enqueue(db: Database, url: str, jobs: int, *, seed_health: bool, batch: int = 1000) -> float:
    """N events, each fanned out to the one subscription; the seconds it took."""
    started = time.perf_counter()
    settings = db.settings
    assert settings is not None, "a database opened with Database.from_settings"
    with db.write() as session:
        subscriptions.create(
            session,
            settings,
            subscriptions.Target(url, [EventType.CUSTOMER_CREATED.value]),
            "bench",
        )
        if seed_health:
            # The connector's health row exists before the worker starts. Without it, on
            # PostgreSQL the worker's threads race to insert it: the losers' job successes roll
            # back and those jobs are delivered again after the 60 s lease (see --cold-health).
            health.record_success(session, "webhooks", utcnow())
    for first in range(0, jobs, batch):
        with db.write() as session:
            for n in range(first, min(first + batch, jobs)):
                record_event(
                    session, EventType.CUSTOMER_CREATED, f"cus_bench{n:08d}", {"name": f"C {n}"}
                )
    return time.perf_counter() - started


def succeeded(db: Database) -> int:
    with db.read() as session:
        return outbox.counts_by_status(session)["succeeded"]


# ---- main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "outbox",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "jobs": args.jobs,
        "worker": f"one `returnhub worker --concurrency {args.concurrency}` subprocess, "
        "default settings (poll 0.5 s, lease 60 s)",
        "receiver": "ThreadingHTTPServer (HTTP/1.1 keep-alive) in the benchmark process; "
        "answers 200 with an empty body",
    }
    with scratch_database(args.database_url) as url, Receiver() as receiver:
        migrate(url)
        # The receiver listens on loopback.
        db = Database.from_settings(Settings(database_url=url, webhook_allow_private_targets=True))
        try:
            result["database"] = engine_facts(db)
            log(f"enqueueing {args.jobs:,} webhook.deliver jobs on {db.dialect} …")
            result["enqueue_seconds"] = round(
                enqueue(db, receiver.url, args.jobs, seed_health=not args.cold_health), 2
            )
            result["connector_health_row_created_before_the_worker"] = not args.cold_health
            with db.read() as session:
                assert outbox.counts_by_status(session)["pending"] == args.jobs

            env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
            env["RETURNHUB_DATABASE_URL"] = url
            env["RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
            log("starting the worker …")
            with tempfile.TemporaryFile() as worker_log:
                started = time.perf_counter()
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "returnhub.cli",
                        "worker",
                        "--concurrency",
                        str(args.concurrency),
                    ],
                    env=env,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    cpu_before = os.times()
                    deadline = started + args.timeout
                    done = 0
                    while time.perf_counter() < deadline and proc.poll() is None:
                        done = succeeded(db)
                        if done >= args.jobs:
                            break
                        time.sleep(0.1)
                    finished = time.perf_counter()
                    cpu_after = os.times()
                finally:
                    proc.terminate()
                    try:
                        exit_code: int | None = proc.wait(20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        exit_code = proc.wait(10)
                if done < args.jobs:
                    worker_log.seek(0)
                    log(worker_log.read().decode(errors="replace")[-3000:])
            with receiver.lock:
                arrivals = sorted(receiver.arrivals)
            seconds = finished - started
            ids = Counter(i for _, i in arrivals)
            steady = arrivals[-1][0] - arrivals[0][0] if len(arrivals) > 1 else 0.0
            result["result"] = {
                "succeeded": done,
                "seconds": round(seconds, 3),
                "deliveries_per_second": round(done / seconds, 1),
                "worker_startup_seconds": round(arrivals[0][0] - started, 3) if arrivals else None,
                "steady_seconds": round(steady, 3),
                "steady_deliveries_per_second": round((len(arrivals) - 1) / steady, 1)
                if steady
                else None,
                "received": len(arrivals),
                "distinct_webhook_ids": len(ids),
                "received_more_than_once": sum(1 for n in ids.values() if n > 1),
                "worker_exit_code_after_sigterm": exit_code,
                # The child's CPU is only counted once it is reaped: after the wait above.
                "worker_cpu_ms_per_delivery": round(
                    (os.times().children_user + os.times().children_system) * 1000 / max(done, 1),
                    3,
                ),
                "benchmark_process_cpu_ms_per_delivery": round(
                    (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system)
                    * 1000
                    / max(done, 1),
                    3,
                ),
            }
        finally:
            db.dispose()
    per_second = result["result"]["deliveries_per_second"]
    result["target"] = {"deliveries_per_second": TARGET_PER_SECOND}
    result["target"]["met"] = per_second >= TARGET_PER_SECOND
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=5000, help="webhook.deliver jobs")
    parser.add_argument("--concurrency", type=int, default=8, help="the worker's --concurrency")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server URL (a scratch database is created and dropped there); "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds to wait at most")
    parser.add_argument(
        "--cold-health",
        action="store_true",
        help="do not create the webhooks connector's health row before the worker starts "
        "(shows the first-insert race on PostgreSQL)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or not 1 <= args.concurrency <= 64:
        parser.error("--jobs must be at least 1 and --concurrency between 1 and 64")
    result = run(args)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
