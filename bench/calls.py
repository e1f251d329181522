"""Work per request, counted: Python function calls per Gladly lookup and per applied event.

Run: .venv/bin/python bench/calls.py [--customers C] [--lookups N] [--events N]

Timed benchmarks on a shared machine move by more than a refactor changes; a count of the
calls a request makes (every thread, through ``sys.setprofile``/``threading.setprofile``)
does not. Run it on two commits (``PYTHONPATH=<tree>/src``) to see whether a change does more
work per request. Lookups: signed DETAILED and BASIC requests through the app in-process
(after a warm-up of 100 each; the app's own background threads, e.g. the backlog monitor's
once-a-second check, are counted too, so lookups vary by ~1 %); applies: Loop events in the
soak's mix through the real handler, one by one and in batches (bench/apply.py's path). Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

import apply
from common import emit, log
from ledger import machine_facts
from lookup import LOOKUP, Signed, basic_by_email, detailed, prepare
from returnhub.api.app import create_app
from returnhub.settings import Settings

WARMUP = 100


class CallCounter:
    """Counts Python calls in every thread while ``counting`` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.counting = False

    def __call__(self, frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and self.counting:
            self.calls += 1

    def install(self) -> None:
        threading.setprofile(self)  # type: ignore[arg-type]
        sys.setprofile(self)  # type: ignore[arg-type]

    def remove(self) -> None:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]

    def around(self, work: Callable[[], object]) -> int:
        before = self.calls
        self.counting = True
        try:
            work()
        finally:
            self.counting = False
        return self.calls - before


def lookups(counter: CallCounter, customers: int, count: int) -> dict[str, float]:
    key = "k" * 40
    with tempfile.TemporaryDirectory(prefix="returnhub-calls-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'calls.db'}"
        data = prepare(url, customers, random.Random(5), analyze=False)
        settings = Settings(
            mode="demo",
            database_url=url,
            gladly_signing_key=SecretStr(key),
            gladly_signature_max_age_seconds=0,
            embedded_worker=False,
        )
        per_request: dict[str, float] = {}
        # Installed before the app's threads start, so the server side is counted too.
        counter.install()
        try:
            with TestClient(create_app(settings)) as client:
                scenarios: dict[str, list[Signed]] = {
                    "lookup_detailed": detailed(key, data.customer_ids[: WARMUP + count]),
                    "lookup_basic_email": basic_by_email(key, data.emails[: WARMUP + count]),
                }
                for name, requests in scenarios.items():

                    def send(batch: Sequence[Signed]) -> None:
                        for request in batch:
                            answer = client.post(
                                LOOKUP, content=request.body, headers=request.headers
                            )
                            assert answer.status_code == 200, answer.text

                    send(requests[:WARMUP])
                    timed = requests[WARMUP:]
                    calls = counter.around(lambda batch=timed: send(batch))  # type: ignore[misc]
                    per_request[name] = round(calls / (len(requests) - WARMUP), 1)
        finally:
            counter.remove()
    return per_request


def applies(counter: CallCounter, customers: int, events: int) -> dict[str, float]:
    spent = {"apply_one": 0, "apply_batched": 0}
    applied = {"apply_one": 0, "apply_batched": 0}
    one, many = apply.apply_inbox_event, apply.apply_inbox_events

    def counted_one(ctx: Any, job: Any) -> None:
        spent["apply_one"] += counter.around(lambda: one(ctx, job))
        applied["apply_one"] += 1

    def counted_many(ctx: Any, jobs: Any, settle: Any) -> Any:
        left: list[Any] = []
        spent["apply_batched"] += counter.around(lambda: left.extend(many(ctx, jobs, settle)))
        applied["apply_batched"] += len(jobs) - len(left)
        return left

    apply.apply_inbox_event, apply.apply_inbox_events = counted_one, counted_many
    counter.install()
    try:
        apply.run(
            argparse.Namespace(events=events, customers=customers, database_url=None, batch=32)
        )
    finally:
        counter.remove()
        apply.apply_inbox_event, apply.apply_inbox_events = one, many
    return {name: round(spent[name] / max(applied[name], 1), 1) for name in spent}


def run(args: argparse.Namespace) -> dict[str, Any]:
    counter = CallCounter()
    log(f"counting calls: {args.lookups} lookups of each kind, {args.events} applied events")
    return {
        "benchmark": "calls",
        "python_calls_per_request": {
            **lookups(counter, args.customers, args.lookups),
            **applies(counter, args.customers, args.events),
        },
        "machine": machine_facts(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--events", type=int, default=1000)
    return emit(lambda: run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
