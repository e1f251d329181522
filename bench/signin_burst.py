"""Sign-in burst benchmark: /healthz and Gladly lookup latency while agents' passwords are hashed.

Run: .venv/bin/python bench/signin_burst.py [--customers N] [--database-url URL] [--signers S]

Loads a demo database (default 2,000 customers in a temporary SQLite file; with --database-url
postgresql+psycopg://user@host:port/any, a scratch database on that server, dropped afterwards),
starts `returnhub serve` on a free 127.0.0.1 port with one agent user whose password hash has
the production cost (600,000 PBKDF2-SHA256 rounds), and measures two phases of --seconds each:

- quiet: one probe loop sends GET /healthz and a signed DETAILED Gladly lookup in turn, one at a
  time, and records each latency;
- burst: the same probes while S clients (default 8) post wrong passwords to /agent/login as
  fast as the server answers them. The sign-in limits are raised for the run so every attempt
  runs the full hash (with the defaults, most attempts would be refused unhashed after a few).

Before the fix the hash ran on the event loop: eight parallel wrong passwords made /healthz take
1.7 s. Now it runs on a worker thread, so a probe waits for the GIL and a CPU, not for the hash.
Prints one JSON object on stdout (latency p50/p99/max per probe and phase, sign-ins per
second); progress goes to stderr. Only 127.0.0.1 traffic; every loop is bounded by time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from common import RawConnection, Server, emit, log, server_process
from ledger import SEED, machine_facts, scratch_database
from lookup import Signed, detailed, hub_env, picks, prepare
from returnhub.web.passwords import hash_password

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def p(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(samples: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(p(ms, 0.99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
    }


async def probe(server: Server, lookups: list[Signed], seconds: float) -> dict[str, Any]:
    """/healthz and a lookup in turn on one keep-alive connection, for ``seconds``."""
    host, port = server.base.removeprefix("http://").split(":")
    connection = RawConnection(host, int(port))
    health: list[float] = []
    lookup: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    i = 0
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, _, _ = await connection.send("GET", "/healthz", {})
            health.append(time.perf_counter() - started)
            failures += status != 200
            request = lookups[i % len(lookups)]
            i += 1
            started = time.perf_counter()
            status, _, _ = await connection.send(
                "POST", "/integrations/gladly/lookup", request.headers, request.body
            )
            lookup.append(time.perf_counter() - started)
            failures += status != 200
            await asyncio.sleep(0.02)
    finally:
        await connection.close()
    return {"healthz": summary(health), "gladly_lookup": summary(lookup), "failures": failures}


async def signer(base: str, deadline: float, counts: list[int]) -> None:
    """Wrong passwords for one name after another until ``deadline``."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while time.monotonic() < deadline:
            form = await client.get("/agent/login")
            match = CSRF.search(form.text)
            if match is None:
                raise RuntimeError(f"no sign-in form: {form.status_code}")
            answer = await client.post(
                "/agent/login",
                data={"csrf": match.group(1), "username": "alice", "password": "wrong"},
            )
            counts[answer.status_code == 401] += 1


async def phase(
    server: Server, lookups: list[Signed], seconds: float, signers: int
) -> dict[str, Any]:
    counts = [0, 0]  # [other answers, refused wrong passwords]
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    burst = [asyncio.create_task(signer(server.base, deadline, counts)) for _ in range(signers)]
    result = await probe(server, lookups, seconds)
    await asyncio.gather(*burst)
    elapsed = time.perf_counter() - started
    result["sign_ins"] = counts[1]
    result["sign_ins_per_second"] = round(counts[1] / elapsed, 2)
    result["sign_in_other_answers"] = counts[0]
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)
    key = secrets.token_urlsafe(32)
    serve = [sys.executable, "-m", "returnhub.cli", "serve", "--host", "127.0.0.1", "--port"]
    result: dict[str, Any] = {
        "benchmark": "signin_burst",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            **machine_facts(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "signers": args.signers,
        "seconds_per_phase": args.seconds,
        "password_rounds": 600_000,
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="returnhub-signin-")))
        url = stack.enter_context(scratch_database(args.database_url))
        data = prepare(url, args.customers, rng, analyze=True)
        result.update(database=data.database, customers=data.customers)
        lookups = detailed(key, picks(rng, data.customer_ids, 500))
        env = hub_env(url, key)
        env.update(
            RETURNHUB_AGENT_USERS=f"alice={hash_password(secrets.token_urlsafe(16))}",
            RETURNHUB_AGENT_SIGNIN_FREE_FAILURES="1000",
            RETURNHUB_AGENT_SIGNIN_ADDRESS_FREE_FAILURES="10000",
            RETURNHUB_ACCESS_LOG="false",
        )
        server = stack.enter_context(server_process(serve, env, tmp / "serve.log"))
        log(f"returnhub serve up at {server.base}; quiet phase …")
        result["quiet"] = asyncio.run(phase(server, lookups, args.seconds, 0))
        log(f"burst phase with {args.signers} signers …")
        result["burst"] = asyncio.run(phase(server, lookups, args.seconds, args.signers))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--signers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    return emit(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
