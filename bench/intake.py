"""Webhook intake benchmark: signed Loop webhooks stored durably by `returnhub serve`.

Run: .venv/bin/python bench/intake.py [--events N] [--concurrency C] [--database-url URL]

Starts `returnhub serve` as a subprocess on a free 127.0.0.1 port (a fresh temporary SQLite file,
or with --database-url postgresql+psycopg://user@host:port/any a scratch database on that server,
dropped afterwards), with RETURNHUB_EMBEDDED_WORKER=false so the figure is the durable intake
alone: verify the signature over the raw body, parse, insert the inbox row and its apply job,
commit, answer 202. It posts N signed Loop webhooks (distinct bodies: the return_created fixture
with a different `id` and `edited_at` each) over C concurrent keep-alive connections, after 200
warm-up requests, and measures accepted events/s and p50/p99 latency.

Two load generators run one after the other, each with its own events: `httpx` (C threads, one
httpx.Client each) and `raw` (C asyncio connections writing HTTP/1.1 by hand). On a 2-core machine
the client shares the CPU with the server; httpx costs 1-3 ms of CPU per request here, the raw
client ~0.1-0.2 ms, so the raw figures are the server's own capacity. Both are reported, with the
CPU each side spent per request.

In the same run, the same requests go to a bare endpoint: a second server process (this script
with --bare-server PORT) running uvicorn with the same settings and one Starlette route that awaits
the body and answers 200. durable/bare says how much of the bare HTTP stack's throughput the
durable path keeps. Then (unless --worker-events 0) one more run with the embedded worker on,
which applies each event to the ledger while the intake goes on, on a fresh database.

Prints one JSON object on stdout; progress goes to stderr. Only 127.0.0.1 traffic; every loop and
wait is bounded; subprocesses and temporary databases are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import platform
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, make_url, select, text

from common import cpu_seconds, emit, log, server_process
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import InboxEvent, OutboxJob

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "loop" / "return_created.json"
SECRET = "bench-loop-webhook-secret-" + "x" * 24
WARMUP = 200


# ---- the bare comparison server ---------------------------------------------------------------


def run_bare_server(port: int) -> None:
    """uvicorn with one route that reads the body and answers 200 (nothing else)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> Response:
        return JSONResponse({"status": "ready"})

    app = Starlette(
        routes=[
            Route("/webhooks/{source}", receive, methods=["POST"]),
            Route("/readyz", ready, methods=["GET"]),
        ]
    )
    # The same uvicorn settings `returnhub serve` uses (one process, access log at info).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


# ---- databases and processes ------------------------------------------------------------------


@contextmanager
def scratch_database(url: str | None, tmp: Path, name: str) -> Iterator[str]:
    """A URL for an empty, migrated database that disappears afterwards."""
    if url is None:
        scratch = f"sqlite:///{tmp / f'{name}.db'}"
        migrate(scratch)
        yield scratch
        return
    server = make_url(url)
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    db_name = f"rh_bench_{secrets.token_hex(5)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    log(f"created scratch database {db_name}")
    try:
        scratch = server.set(database=db_name).render_as_string(hide_password=False)
        migrate(scratch)
        yield scratch
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        log(f"dropped scratch database {db_name}")


def migrate(url: str) -> None:
    db = Database.from_settings(Settings(database_url=url))
    try:
        upgrade(db.engine)
    finally:
        db.dispose()


def engine_facts(url: str) -> dict[str, str]:
    if url.startswith("sqlite"):
        return {"engine": "sqlite", "version": sqlite3.sqlite_version}
    db = Database.from_settings(Settings(database_url=url))
    try:
        with db.read() as session:
            version = session.scalar(text("SHOW server_version")) or ""
    finally:
        db.dispose()
    return {"engine": "postgresql", "version": str(version)}


def hub_env(url: str, *, worker: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env.update(
        RETURNHUB_DATABASE_URL=url,
        RETURNHUB_LOOP_WEBHOOK_SECRET=SECRET,
        RETURNHUB_EMBEDDED_WORKER="true" if worker else "false",
    )
    return env


# ---- the load ---------------------------------------------------------------------------------


def signed_bodies(count: int, first_id: int) -> list[tuple[bytes, dict[str, str]]]:
    """Distinct Loop return.created events, each with its X-Loop-Signature."""
    template = json.loads(FIXTURE.read_text())
    edited = datetime(2026, 11, 10, 14, 5, tzinfo=UTC)
    out = []
    for i in range(count):
        payload = dict(template)
        payload["id"] = first_id + i
        payload["edited_at"] = (edited + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
        headers = {"content-type": "application/json", "x-loop-signature": signature.decode()}
        out.append((body, headers))
    return out


Bodies = Sequence[tuple[bytes, dict[str, str]]]
Outcome = tuple[float, list[float], dict[int, int]]  # seconds, latencies (ms), status counts


def post_httpx(base: str, bodies: Bodies, concurrency: int) -> Outcome:
    """``concurrency`` threads, each with its own keep-alive httpx.Client, share the bodies."""
    samples: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    pending = iter(range(len(bodies)))

    def connection() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                body, headers = bodies[index]
                started = time.perf_counter()
                try:
                    status = client.post(
                        "/webhooks/loop", content=body, headers=headers
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    samples.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=connection) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return time.perf_counter() - started, samples, statuses


async def _post_raw(base: str, bodies: Bodies, concurrency: int) -> Outcome:
    """The same requests over asyncio streams, HTTP/1.1 written by hand: a client that costs
    ~0.1 ms of CPU per request, so the server is what is measured."""
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    samples: list[float] = []
    statuses: dict[int, int] = {}
    pending = iter(range(len(bodies)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index in pending:
                body, headers = bodies[index]
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                request = (
                    f"POST /webhooks/loop HTTP/1.1\r\nhost: {host}:{port}\r\n{head}"
                    f"content-length: {len(body)}\r\n\r\n"
                ).encode() + body
                started = time.perf_counter()
                writer.write(request)
                await writer.drain()
                response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                lines = response.decode("latin-1").split("\r\n")
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                )
                await asyncio.wait_for(reader.readexactly(length), 30)
                samples.append((time.perf_counter() - started) * 1000)
                status = int(lines[0].split()[1])
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, samples, statuses


def post_raw(base: str, bodies: Bodies, concurrency: int) -> Outcome:
    return asyncio.run(_post_raw(base, bodies, concurrency))


CLIENTS = {"httpx": post_httpx, "raw": post_raw}


def drive(base: str, pid: int, bodies: Bodies, concurrency: int, client: str) -> dict[str, Any]:
    """Warm up, then post ``bodies`` with ``concurrency`` connections; rates and latencies."""
    post = CLIENTS[client]
    post(base, bodies[:WARMUP], concurrency)
    measured = bodies[WARMUP:]
    cpu_before, client_before = cpu_seconds(pid), time.process_time()
    seconds, samples, statuses = post(base, measured, concurrency)
    cpu, client_cpu = cpu_seconds(pid) - cpu_before, time.process_time() - client_before
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "client": client,
        "requests": len(measured),
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "ok_per_second": round(ok / seconds, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(samples), 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(measured), 3),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / len(measured), 3),
    }


def count_rows(url: str) -> dict[str, int]:
    db = Database.from_settings(Settings(database_url=url))
    try:
        with db.read() as session:
            inbox = session.scalar(select(func.count()).select_from(InboxEvent)) or 0
            applied = (
                session.scalar(
                    select(func.count())
                    .select_from(InboxEvent)
                    .where(InboxEvent.status == "applied")
                )
                or 0
            )
            jobs = session.scalar(select(func.count()).select_from(OutboxJob)) or 0
    finally:
        db.dispose()
    return {"inbox_events": int(inbox), "applied": int(applied), "outbox_jobs": int(jobs)}


def wait_applied(url: str, expected: int, timeout: float) -> float | None:
    """Seconds until ``expected`` inbox events are applied (None if not within ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if count_rows(url)["applied"] >= expected:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


# ---- main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    serve = [sys.executable, "-m", "returnhub.cli", "serve", "--port"]
    bare = [sys.executable, str(Path(__file__).resolve()), "--bare-server"]
    batch = WARMUP + args.events
    # Distinct events for every measurement: none of them is a duplicate of another.
    bodies = {
        client: signed_bodies(batch, first_id=10_000_000 + i * 1_000_000)
        for i, client in enumerate(args.clients)
    }
    result: dict[str, Any] = {
        "benchmark": "intake",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "events": args.events,
        "concurrency": args.concurrency,
        "body_bytes": len(bodies[args.clients[0]][0][0]),
        "clients": {
            "httpx": f"{args.concurrency} threads in the benchmark process, each with its own "
            "keep-alive httpx.Client",
            "raw": f"{args.concurrency} keep-alive asyncio connections in the benchmark process, "
            "HTTP/1.1 written by hand (near-zero client CPU: measures the server)",
        },
        "server": "returnhub serve: uvicorn, 1 process, its own OS process, access log at info; "
        "bare: uvicorn + one Starlette route, same settings",
    }
    with tempfile.TemporaryDirectory(prefix="returnhub-bench-intake-") as tmp_dir:
        tmp = Path(tmp_dir)
        with scratch_database(args.database_url, tmp, "intake") as url:
            result["database"] = engine_facts(url)
            with server_process(serve, hub_env(url, worker=False), tmp / "serve.log") as (b, pid):
                for client in args.clients:
                    log(f"durable intake, worker off, {client} client …")
                    result[f"durable_{client}"] = drive(
                        b, pid, bodies[client], args.concurrency, client
                    )
                    log(f"  {json.dumps(result[f'durable_{client}'])}")
            result["durable_rows"] = count_rows(url)

        with server_process(bare, dict(os.environ), tmp / "bare.log") as (b, pid):
            for client in args.clients:
                log(f"bare endpoint (await request.body(); 200), {client} client …")
                result[f"bare_{client}"] = drive(b, pid, bodies[client], args.concurrency, client)
                log(f"  {json.dumps(result[f'bare_{client}'])}")
        result["durable_over_bare"] = {
            client: round(
                result[f"durable_{client}"]["ok_per_second"]
                / result[f"bare_{client}"]["ok_per_second"],
                3,
            )
            for client in args.clients
        }

        if args.worker_events:
            client = args.clients[0]
            some = bodies[client][: WARMUP + args.worker_events]
            with scratch_database(args.database_url, tmp, "intake-worker") as url:
                log(f"durable intake, embedded worker on, {args.worker_events} events, {client} …")
                env = hub_env(url, worker=True)
                with server_process(serve, env, tmp / "serve-w.log") as (b, pid):
                    with_worker = drive(b, pid, some, args.concurrency, client)
                    drain = wait_applied(url, len(some), timeout=60)
                with_worker["seconds_to_apply_all_after_intake"] = (
                    round(drain, 2) if drain is not None else None
                )
                with_worker.update(count_rows(url))
                result["durable_with_worker"] = with_worker
                log(f"  {json.dumps(with_worker)}")

    best = max(result[f"durable_{client}"]["ok_per_second"] for client in args.clients)
    lowest_p99 = min(result[f"durable_{client}"]["p99_ms"] for client in args.clients)
    result["targets"] = {
        "events_per_second": 1000,
        "p99_ms": 50,
        "events_per_second_met": best >= 1000,
        "p99_met": lowest_p99 < 50,
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000, help="webhooks measured per server")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server URL (a scratch database is created and dropped there); "
        "default: a temporary SQLite file",
    )
    parser.add_argument(
        "--worker-events",
        type=int,
        default=500,
        help="events for the extra run with the embedded worker on (0: skip it)",
    )
    parser.add_argument(
        "--client",
        dest="clients",
        action="append",
        choices=sorted(CLIENTS),
        help="load generator(s), in order; default: httpx then raw",
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        run_bare_server(args.bare_server)
        return 0
    if args.events < 100 or args.concurrency < 1 or args.worker_events < 0:
        parser.error("--events must be at least 100 and --concurrency at least 1")
    args.clients = args.clients or ["httpx", "raw"]
    return emit(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
