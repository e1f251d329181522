"""Federated search under partial failure: five fake systems on loopback, four answering in
100-300 ms and one that hangs forever. Prints one JSON object.

    .venv/bin/python bench/search.py [--rounds 20]

The search must come back within the budget (+10%) with four systems' results and one error,
in a time close to the slowest healthy system and far from the sum of all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from returnhub.connectors.base import (
    Capability,
    ConnectorSpec,
    ExternalProfile,
    SearchQuery,
)
from returnhub.connectors.http import send
from returnhub.services.search import federated_search

DELAYS_MS = {"alpha": 100, "bravo": 170, "charlie": 240, "delta": 300}
HANG = "echo"


class FakeSystems(BaseHTTPRequestHandler):
    """GET /<system>?email=… answers after that system's delay; the hanging one never does."""

    def do_GET(self) -> None:
        system = self.path.split("?")[0].strip("/")
        if system == HANG:
            time.sleep(3600)  # daemon thread: dies with the process
            return
        time.sleep(DELAYS_MS[system] / 1000)
        body = json.dumps({"id": f"{system}-1", "email": "ana@example.com"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


class HttpSystem:
    """A connected system reached over HTTP, as the real connectors are."""

    def __init__(self, key: str, base: str, http: httpx.Client) -> None:
        self.spec = ConnectorSpec(key, key, frozenset({Capability.SEARCH_CUSTOMERS}), ())
        self.url = f"{base}/{key}"
        self.http = http

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]:
        data = send(
            self.http, "GET", self.url, params={"email": query.emails[0]}, timeout=timeout
        ).json()
        return [ExternalProfile(self.spec.key, data["id"], emails=(data["email"],))]


def run(
    systems: dict[str, HttpSystem], rounds: int, timeout: float, budget: float
) -> dict[str, Any]:
    query = SearchQuery(emails=("ana@example.com",))
    federated_search(systems, query, system_timeout=timeout, budget=budget)  # warm-up
    elapsed: list[float] = []
    outcomes: list[tuple[int, int]] = []
    for _ in range(rounds):
        result = federated_search(systems, query, system_timeout=timeout, budget=budget)
        elapsed.append(result.elapsed)
        outcomes.append((sum(len(r.matches) for r in result.rows), len(result.errors)))
    slowest = max(DELAYS_MS.values()) / 1000
    # What asking one system after another would cost: every healthy answer plus the hang's cut.
    sequential = sum(DELAYS_MS.values()) / 1000 + min(timeout, budget)
    p50 = statistics.median(elapsed)
    return {
        "system_timeout_s": timeout,
        "budget_s": budget,
        "elapsed_p50_s": round(p50, 3),
        "elapsed_max_s": round(max(elapsed), 3),
        "slowest_healthy_s": slowest,
        "sequential_sum_s": round(sequential, 3),
        "every_round_4_results_1_error": all(o == (4, 1) for o in outcomes),
        "within_budget_plus_10pct": max(elapsed) <= budget * 1.1,
        "speedup_vs_sequential": round(sequential / p50, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSystems)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with httpx.Client(limits=httpx.Limits(max_connections=50)) as http:
        systems = {k: HttpSystem(k, base, http) for k in [*DELAYS_MS, HANG]}
        scenarios = {
            # The shipped defaults: 3 s per system inside a 4 s budget.
            "defaults": run(systems, args.rounds, 3.0, 4.0),
            # A tight per-system timeout cuts the hang early.
            "tight_system_timeout": run(systems, args.rounds, 0.5, 1.0),
            # A budget just above the slowest healthy system bounds the whole search.
            "tight_budget": run(systems, args.rounds, 3.0, 0.35),
        }
    server.shutdown()
    report = {
        "benchmark": "federated_search",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "systems": {**{k: f"{v} ms" for k, v in DELAYS_MS.items()}, HANG: "hangs"},
        "rounds": args.rounds,
        "scenarios": scenarios,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
