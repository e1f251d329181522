"""Apply cost: CPU per inbound event applied to the ledger, by trigger, on one thread.

Run: .venv/bin/python bench/apply.py [--events N] [--customers C] [--database-url URL]

Loads a C-customer demo (a temporary SQLite file, or a scratch database on the PostgreSQL server
of --database-url), stores N Loop webhooks in Loop's real shape (the same mix as bench/soak.py:
creates, then updates to in transit, then closes) through the intake's own storage function,
then claims their apply jobs and runs the real handler on this thread, timing the process's CPU
per event: alternate claims go one by one (the handler per job) and as one batch (the worker's
batch handler, one transaction per claim), side by side. The soak's throughput is bounded by
this figure: a worker is one core (the GIL). Prints one JSON object; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from common import emit, log
from ledger import machine_facts, scratch_database
from lookup import prepare
from returnhub.connectors.webhook_sources import SOURCES, dedupe_key
from returnhub.delivery import inbox, outbox
from returnhub.delivery.context import HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.jobs.inbound import apply_inbox_event, apply_inbox_events
from returnhub.services import subscriptions
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent
from returnhub.store.types import utcnow
from soak import Webhooks


def run(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        if args.database_url:
            url = stack.enter_context(scratch_database(args.database_url))
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="returnhub-apply-"))
            url = f"sqlite:///{Path(tmp) / 'apply.db'}"
        data = prepare(url, args.customers, random.Random(5), analyze=True)
        settings = Settings(
            mode="demo",
            database_url=url,
            loop_webhook_secret="x" * 40,
            webhook_allow_private_targets=True,  # the subscription is a loopback address
        )
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        with db.write() as session:  # every applied change fans out a delivery, as in the soak
            subscriptions.create(
                session, settings, subscriptions.Target("http://127.0.0.1:9/hooks", ["*"])
            )
        loop = SOURCES["loop"]
        webhooks = Webhooks(data.emails, random.Random(3))
        events = []
        for _ in range(args.events):
            request = webhooks.next()
            payload = json.loads(request.body)
            events.append(
                inbox.IncomingEvent(
                    "loop",
                    dedupe_key(loop, payload, {}, request.body),
                    loop.event_type(payload, {}),
                    request.body,
                    {},
                    loop.lock_key(payload, {}),
                )
            )
        with db.write_connection() as connection:
            inbox.accept_many(connection, events)
        with db.read() as session:
            trigger = {
                str(public_id): str(kind)
                for public_id, kind in session.execute(
                    select(InboxEvent.public_id, InboxEvent.event_type)
                )
            }
        context = HandlerContext(db=db, settings=settings, http=httpx.Client())
        spent: dict[str, list[float]] = {}
        batched: list[float] = []
        fell_back = 0
        log(f"applying {args.events} events on {db.dialect}")
        for round_number in count():
            with db.write_connection() as connection:
                jobs = outbox.claim(
                    connection, "bench", utcnow(), limit=args.batch, lease=timedelta(minutes=10)
                )
            applies = [job for job in jobs if job.kind == inbox.APPLY_JOB]
            if not applies:
                break
            # Alternate claims between the one-by-one path and the batch: side by side, the
            # same mix of events and the same state of the machine for both.
            if round_number % 2:
                started = time.process_time()
                left = apply_inbox_events(context, applies, _settle)
                batched.append((time.process_time() - started) / len(applies))
                fell_back += len(left)
                for job in left:
                    apply_inbox_event(context, job)
            else:
                for job in applies:
                    started = time.process_time()
                    apply_inbox_event(context, job)
                    spent.setdefault(trigger[job.payload["inbox_id"]], []).append(
                        time.process_time() - started
                    )
            with db.write_connection() as connection:
                outbox.succeed_many(connection, jobs, "bench", utcnow())
        everything = [t for times in spent.values() for t in times]
        return {
            "benchmark": "apply",
            "engine": db.dialect,
            "customers": data.customers,
            "events": len(everything),
            "cpu_ms_per_event": round(statistics.mean(everything) * 1000, 2),
            "cpu_ms_by_trigger": {
                name: {"n": len(times), "mean": round(statistics.mean(times) * 1000, 2)}
                for name, times in sorted(spent.items())
            },
            "batch_size": args.batch,
            "batched_cpu_ms_per_event": round(statistics.mean(batched) * 1000, 2),
            "batched_events_fell_back": fell_back,
            "machine": machine_facts(),
        }
    raise AssertionError("unreachable")


def _settle(session: Session, jobs: Sequence[ClaimedJob]) -> None:
    """The batch's own record of its jobs is left to the loop above (it marks every claim)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32, help="jobs per claim (and per batch)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--database-url", help="a PostgreSQL server (scratch database on it)")
    return emit(lambda: run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
