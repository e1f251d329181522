"""Gladly lookup benchmark: signed BASIC and DETAILED lookups against `returnhub serve`.

Run: .venv/bin/python bench/lookup.py [--customers N] [--database-url URL | --reuse PATH]

Builds a demo database (default 100,000 customers in a temporary SQLite file; with
--database-url postgresql+psycopg://user@host:port/any, a scratch database on that server that is
dropped afterwards; with --reuse PATH, a SQLite file that is loaded once and kept), then starts
`returnhub serve` as a subprocess on a free 127.0.0.1 port (demo mode, a random Gladly signing
key, embedded worker off) and drives POST /integrations/gladly/lookup from this process over
C concurrent keep-alive connections (default 32):

- BASIC by email, as Gladly's auto-link sends it (``emails`` is an array, so the hub must find
  exactly one customer), for random real customer emails;
- DETAILED by ``externalCustomerId`` for random real customer ids.

Every request carries a valid Gladly-Authorization signature (computed before the clock starts;
Gladly-Time is fixed, and the server's freshness window is off). In the same run a second server
process (this script with --bare-server PORT) runs uvicorn with the same settings and a FastAPI
app whose one route reads the body and answers a constant JSON body: a real DETAILED response of
the median size. It gets the same requests as the DETAILED scenario; detailed/bare is the share of
the bare HTTP stack's throughput the real lookup keeps.

One more scenario on the real server separates the app's fixed cost from the lookup's: the
DETAILED bodies signed with a wrong key, which the app refuses with 401 after reading the body and
checking the signature (routing, middleware, dependencies, authentication; no database).

The client is a minimal keep-alive HTTP/1.1 client on asyncio streams (under 0.1 ms of CPU per
request); --client httpx uses httpx.AsyncClient instead, whose ~2 ms of client CPU per request on
this kind of machine caps every rate, the bare endpoint's first.

Both servers stay up for the whole run and the scenarios alternate (BASIC, DETAILED, rejected,
bare) for --rounds rounds, each bounded by --requests and --seconds after a warm-up, so that a
noisy neighbour hurts them alike. Prints one JSON object on stdout; progress goes to stderr. Only
127.0.0.1 traffic; every loop and wait is bounded; subprocesses and scratch databases are removed
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from rich.console import Console
from sqlalchemy import func, select, text

from common import RawConnection, Server, cpu_seconds, emit, log, server_process
from ledger import NOW, SEED, engine_facts, machine_facts, scratch_database
from returnhub.connectors.gladly.signing import sign_headers
from returnhub.demo import load_demo
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import Customer, CustomerEmail, Order

LOOKUP = "/integrations/gladly/lookup"
GLADLY_TIME = "20261122T120000Z"
WARMUP = 300
T = TypeVar("T")
CLIENTS = {
    "raw": "raw HTTP/1.1 over asyncio streams",
    "httpx": "httpx.AsyncClient, one per connection",
}


# ---- the bare comparison server ---------------------------------------------------------------


def run_bare_server(port: int, body_file: Path) -> None:
    """uvicorn with one FastAPI route that reads the body and answers a constant JSON body.

    (FastAPI, Request and Response are imported at module level: with postponed annotations
    FastAPI resolves the route's annotations in the module's globals.)"""
    import uvicorn

    constant = body_file.read_bytes()
    app = FastAPI()

    @app.post(LOOKUP)
    async def lookup(request: Request) -> Response:
        await request.body()
        return Response(constant, media_type="application/json")

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    # The uvicorn settings `returnhub serve` uses: one process, log level info (access log on).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


# ---- processes --------------------------------------------------------------------------------


def hub_env(url: str, signing_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env.update(
        RETURNHUB_DATABASE_URL=url,
        RETURNHUB_GLADLY_SIGNING_KEY=signing_key,
        # Requests are signed before the clock starts, with a fixed Gladly-Time.
        RETURNHUB_GLADLY_SIGNATURE_MAX_AGE_SECONDS="0",
        RETURNHUB_EMBEDDED_WORKER="false",
        RETURNHUB_MODE="demo",
    )
    return env


# ---- the requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    body: bytes
    headers: dict[str, str]


def signed(key: str, payload: dict[str, Any], index: int) -> Signed:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "gladly-correlation-id": f"bench{index:012d}",
    }
    auth = sign_headers(key, "POST", LOOKUP, "", headers, body, GLADLY_TIME)
    return Signed(body, {**headers, "gladly-time": GLADLY_TIME, "gladly-authorization": auth})


def basic_by_email(key: str, emails: Sequence[str]) -> list[Signed]:
    """Auto-link style: ``emails`` as an array, ``uniqueMatchRequired`` false."""
    return [
        signed(
            key,
            {"lookupLevel": "BASIC", "query": {"emails": [e]}, "uniqueMatchRequired": False},
            i,
        )
        for i, e in enumerate(emails)
    ]


def detailed(key: str, customer_ids: Sequence[str]) -> list[Signed]:
    return [
        signed(
            key,
            {
                "lookupLevel": "DETAILED",
                "query": {"externalCustomerId": c},
                "uniqueMatchRequired": True,
            },
            i,
        )
        for i, c in enumerate(customer_ids)
    ]


@dataclass(frozen=True)
class Dataset:
    customers: int
    orders: int
    emails: list[str]
    customer_ids: list[str]
    load_seconds: float | None
    database: dict[str, Any]


def prepare(url: str, customers: int, rng: random.Random, *, analyze: bool) -> Dataset:
    """Migrate and load the demo unless the database already has customers; sample ids.

    On PostgreSQL, ``analyze`` runs ANALYZE after the load: planner statistics that autovacuum
    would gather in a normal deployment (a server with autovacuum off, or a benchmark that starts
    a minute after a bulk load, has none, and plans some lookups as sequential scans)."""
    db = Database.from_settings(Settings(mode="demo", database_url=url))
    try:
        upgrade(db.engine)
        with db.read() as session:
            existing = session.scalar(select(func.count()).select_from(Customer)) or 0
        load_seconds: float | None = None
        if existing:
            log(f"reusing the {existing:,} customers already in the database")
        else:
            log(f"loading {customers:,} demo customers into {db.dialect}")
            summary = load_demo(
                db, customers=customers, seed=SEED, now=NOW, console=Console(stderr=True)
            )
            log(summary.describe())
            load_seconds = round(summary.seconds, 2)
        facts: dict[str, Any] = dict(engine_facts(db))
        if db.dialect == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                facts["autovacuum"] = str(conn.scalar(text("SHOW autovacuum")))
                if analyze:
                    started = time.perf_counter()
                    conn.execute(text("ANALYZE"))
                    log(f"ANALYZE in {time.perf_counter() - started:.1f} s")
            facts["analyzed_by_the_benchmark"] = analyze
        with db.read() as session:
            n_customers = session.scalar(select(func.count()).select_from(Customer)) or 0
            n_orders = session.scalar(select(func.count()).select_from(Order)) or 0
            emails = list(session.scalars(select(CustomerEmail.email)))
            ids = list(session.scalars(select(Customer.public_id)))
        rng.shuffle(emails)
        rng.shuffle(ids)
        return Dataset(int(n_customers), int(n_orders), emails, ids, load_seconds, facts)
    finally:
        db.dispose()


def picks(rng: random.Random, population: Sequence[str], count: int) -> list[str]:
    return [rng.choice(population) for _ in range(count)]


# ---- the load ---------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float = 0.0
    samples_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)
    empty: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0


class Connection(Protocol):
    async def post(self, request: Signed) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class RawLookups:
    """Lookups over one ``common.RawConnection``."""

    def __init__(self, host: str, port: int) -> None:
        self.connection = RawConnection(host, port)

    async def post(self, request: Signed) -> tuple[int, bytes]:
        status, _, content = await self.connection.send(
            "POST", LOOKUP, request.headers, request.body
        )
        return status, content

    async def close(self) -> None:
        await self.connection.close()


class HttpxConnection:
    """httpx.AsyncClient limited to one connection. (One client with C connections is worse:
    httpcore's pool scans every connection for every request, ~6 ms of client CPU per request
    at C=32 on this machine.)"""

    def __init__(self, base: str) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.client = httpx.AsyncClient(base_url=base, limits=limits, timeout=30)

    async def post(self, request: Signed) -> tuple[int, bytes]:
        try:
            response = await self.client.post(LOOKUP, content=request.body, headers=request.headers)
        except httpx.HTTPError:
            return 0, b""
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


def connect(client: str, base: str) -> Connection:
    if client == "httpx":
        return HttpxConnection(base)
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return RawLookups(host, int(port))


async def _drive(
    client: str, base: str, requests: Sequence[Signed], concurrency: int, seconds: float
) -> tuple[Run, bytes]:
    """Post ``requests`` from ``concurrency`` connections until all are sent or ``seconds`` pass;
    also returns one response body of the median size."""
    run = Run()
    bodies: dict[int, bytes] = {}
    next_index = 0
    connections = [connect(client, base) for _ in range(concurrency)]

    async def one_connection(connection: Connection, deadline: float) -> None:
        nonlocal next_index
        while next_index < len(requests) and time.perf_counter() < deadline:
            request = requests[next_index]
            next_index += 1
            started = time.perf_counter()
            status, content = await connection.post(request)
            run.samples_ms.append((time.perf_counter() - started) * 1000)
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status:
                run.sizes.append(len(content))
                bodies.setdefault(len(content), content)
            if status == 200 and content.startswith(b'{"results":[]'):
                run.empty += 1

    try:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(one_connection(c, deadline) for c in connections))
        run.seconds = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    median_size = sorted(run.sizes)[len(run.sizes) // 2] if run.sizes else 0
    return run, bodies.get(median_size, b"")


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed (as uvicorn does): less client CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def drive(
    client: str, server: Server, requests: Sequence[Signed], concurrency: int, seconds: float
) -> tuple[Run, bytes]:
    cpu_before, client_before = cpu_seconds(server.pid), time.process_time()
    run, median_body = run_loop(_drive(client, server.base, requests, concurrency, seconds))
    run.server_cpu = cpu_seconds(server.pid) - cpu_before
    run.client_cpu = time.process_time() - client_before
    return run, median_body


def p99(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def summarise(runs: Sequence[Run], concurrency: int, expected: int = 200) -> dict[str, Any]:
    """Totals over the rounds; ``errors`` counts answers other than ``expected``."""
    samples = [s for r in runs for s in r.samples_ms]
    sizes = [s for r in runs for s in r.sizes]
    statuses: dict[int, int] = {}
    for r in runs:
        for status, n in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    seconds = sum(r.seconds for r in runs)
    requests = len(samples)
    ok = statuses.get(expected, 0)
    return {
        "requests": requests,
        "errors": requests - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "rps": round(ok / seconds, 1),
        "rps_per_round": [round(r.statuses.get(expected, 0) / r.seconds, 1) for r in runs],
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(p99(samples), 2),
        "p99_ms_per_round": [round(p99(r.samples_ms), 2) for r in runs],
        "max_ms": round(max(samples), 2),
        "empty_results": sum(r.empty for r in runs),
        "response_bytes": {
            "median": int(statistics.median(sizes)) if sizes else 0,
            "mean": round(statistics.fmean(sizes)) if sizes else 0,
            "max": max(sizes, default=0),
        },
        "server_cpu_ms_per_request": round(sum(r.server_cpu for r in runs) * 1000 / requests, 3),
        "server_cpu_share_of_one_core": round(sum(r.server_cpu for r in runs) / seconds, 2),
        "client_cpu_ms_per_request": round(sum(r.client_cpu for r in runs) * 1000 / requests, 3),
    }


def check(server: Server, request: Signed, what: str) -> None:
    """One request before the load: a wrong signature or an empty answer stops the run."""
    response = httpx.post(
        server.base + LOOKUP, content=request.body, headers=request.headers, timeout=30
    )
    if response.status_code != 200 or response.content.startswith(b'{"results":[]'):
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")


# ---- main -------------------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """The commit under test, and whether src/ differs from it (read-only git calls)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    return {"commit": commit or None, "src_changed_files": [c[3:] for c in changed if c.strip()]}


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)
    key = secrets.token_urlsafe(32)
    per_round = args.requests
    total = WARMUP + per_round * args.rounds
    serve = [sys.executable, "-m", "returnhub.cli", "serve", "--host", "127.0.0.1", "--port"]
    result: dict[str, Any] = {
        "benchmark": "gladly_lookup",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_version(),
        "machine": {
            **machine_facts(),
            "memory_gib": memory_gib(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="returnhub-lookup-")))
        if args.reuse:
            url = f"sqlite:///{Path(args.reuse).resolve()}"
        else:
            url = stack.enter_context(scratch_database(args.database_url))
        data = prepare(url, args.customers, rng, analyze=not args.no_analyze)
        result.update(
            database=data.database,
            customers=data.customers,
            orders=data.orders,
            load_seconds=data.load_seconds,
            server="returnhub serve: uvicorn, 1 process, its own OS process, access log at info, "
            "demo mode, embedded worker off",
            bare_server="this script --bare-server: the same uvicorn settings, one FastAPI route "
            "that reads the body and answers a constant JSON body",
            client=f"{CLIENTS[args.client]}, on uvloop in the benchmark process, "
            f"{args.concurrency} keep-alive connections",
            bounds={
                "warmup_requests": WARMUP,
                "rounds": args.rounds,
                "requests_per_round": per_round,
                "seconds_per_round": args.seconds,
            },
        )
        log("signing requests …")
        scenarios: dict[str, list[Signed]] = {
            "basic_email": basic_by_email(key, picks(rng, data.emails, total)),
            "detailed": detailed(key, picks(rng, data.customer_ids, total)),
        }
        # The app's own floor: DETAILED bodies signed with another key, refused with 401 after
        # the body is read and the signature checked: routing, middleware, dependencies, auth.
        scenarios["rejected_signature"] = detailed(
            secrets.token_urlsafe(32), picks(rng, data.customer_ids, total)
        )
        scenarios["bare"] = scenarios["detailed"]

        hub = stack.enter_context(server_process(serve, hub_env(url, key), tmp / "serve.log"))
        log(f"returnhub serve up at {hub.base} (pid {hub.pid})")
        check(hub, scenarios["basic_email"][0], "BASIC lookup")
        check(hub, scenarios["detailed"][0], "DETAILED lookup")
        warm, _ = drive(args.client, hub, scenarios["basic_email"][:WARMUP], args.concurrency, 60)
        log(f"warm-up basic_email: {warm.statuses}")
        warm, median_body = drive(
            args.client, hub, scenarios["detailed"][:WARMUP], args.concurrency, 60
        )
        log(f"warm-up detailed: {warm.statuses}")
        warm, _ = drive(
            args.client, hub, scenarios["rejected_signature"][:WARMUP], args.concurrency, 60
        )
        log(f"warm-up rejected_signature: {warm.statuses}")
        # The bare body: the real DETAILED response of the median size among the warm-up's.
        bare_file = tmp / "bare.json"
        bare_file.write_bytes(median_body)
        bare_command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--bare-body",
            str(bare_file),
            "--bare-server",
        ]
        bare = stack.enter_context(server_process(bare_command, dict(os.environ), tmp / "bare.log"))
        log(f"bare server up at {bare.base} (pid {bare.pid}), body {len(median_body)} bytes")
        drive(args.client, bare, scenarios["bare"][:WARMUP], args.concurrency, 60)

        servers = {
            "basic_email": hub,
            "detailed": hub,
            "rejected_signature": hub,
            "bare": bare,
        }
        runs: dict[str, list[Run]] = {name: [] for name in servers}
        for index in range(args.rounds):
            window = slice(WARMUP + index * per_round, WARMUP + (index + 1) * per_round)
            for name, server in servers.items():
                one, _ = drive(
                    args.client, server, scenarios[name][window], args.concurrency, args.seconds
                )
                runs[name].append(one)
                log(
                    f"round {index + 1}/{args.rounds} {name}: "
                    f"{len(one.samples_ms)} requests in {one.seconds:.2f} s, "
                    f"{len(one.samples_ms) / one.seconds:.0f}/s, "
                    f"p99 {p99(one.samples_ms):.1f} ms, statuses {one.statuses}"
                )
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    figures = {
        name: summarise(r, args.concurrency, 401 if name == "rejected_signature" else 200)
        for name, r in runs.items()
    }
    result["response_bytes"] = {
        "basic_email_median": figures["basic_email"]["response_bytes"]["median"],
        "detailed_median": figures["detailed"]["response_bytes"]["median"],
        "bare_constant": len(median_body),
    }
    result["scenarios"] = figures
    ratio = figures["detailed"]["rps"] / figures["bare"]["rps"]
    result["detailed_rps_over_bare_rps"] = round(ratio, 3)
    result["basic_email_rps_over_bare_rps"] = round(
        figures["basic_email"]["rps"] / figures["bare"]["rps"], 3
    )
    result["rejected_signature_rps_over_bare_rps"] = round(
        figures["rejected_signature"]["rps"] / figures["bare"]["rps"], 3
    )
    result["detailed_over_bare_per_round"] = [
        round(d / b, 3)
        for d, b in zip(
            figures["detailed"]["rps_per_round"], figures["bare"]["rps_per_round"], strict=True
        )
    ]
    met = {
        "basic_email_p99_under_50_ms": figures["basic_email"]["p99_ms"] < 50,
        "detailed_p99_under_50_ms": figures["detailed"]["p99_ms"] < 50,
        "detailed_at_least_40_percent_of_bare": ratio >= 0.4,
        "no_errors": all(f["errors"] == 0 for f in figures.values()),
    }
    result["targets"] = {"p99_ms": 50, "detailed_over_bare": 0.4, **met, "met": all(met.values())}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=100_000, help="demo size")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server URL (a scratch database is created and dropped there); "
        "default: a temporary SQLite file",
    )
    where.add_argument(
        "--reuse",
        metavar="PATH",
        help="a SQLite file to use and keep: loaded with the demo if it has no customers yet",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: do not run ANALYZE after loading (stale planner statistics)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: keep-alive HTTP/1.1 on asyncio streams (default); httpx: one "
        "httpx.AsyncClient per connection (its client CPU per request caps the rates)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four scenarios")
    parser.add_argument(
        "--requests", type=int, default=5000, help="at most this many requests per round"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="and at most this long per round"
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bare-body", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        if args.bare_body is None:
            parser.error("--bare-server needs --bare-body")
        run_bare_server(args.bare_server, args.bare_body)
        return 0
    if args.customers < 1 or args.concurrency < 1 or args.rounds < 1 or args.requests < 100:
        parser.error("--customers, --concurrency, --rounds must be >= 1 and --requests >= 100")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return emit(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
