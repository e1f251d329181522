"""CSV import benchmark: an N-order file imported by `returnhub import csv`, with Gladly lookups
answered by `returnhub serve` on the same database while it runs.

Run: .venv/bin/python bench/import.py [--orders N] [--database-url URL]

Generates an orders CSV in the documented format (default 1,000,000 orders; one to three lines
each, half the customers with two or more orders, phones on most) in a temporary directory,
creates the database (a temporary SQLite file, or with --database-url postgresql+psycopg://…
a scratch database on that server, dropped afterwards), migrates it and loads a small demo
(--customers) for the lookups to find. Then it starts `returnhub serve` (demo mode, embedded
worker off) and `returnhub import csv FILE` as subprocesses, and while the import runs drives
signed BASIC-by-email Gladly lookups for demo customers over --concurrency keep-alive
connections (paced by --pause between a connection's requests). Reported: orders/s (from the
import's own row: its first stored chunk's start to its finish, and the command's wall time
including the file's sha256 and start-up), the importer's resident memory (its current and peak
RSS when 100,000 orders are stored and at the end), and the lookups' latency (p50, p99) and
statuses during the import. One JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from common import emit, log, server_process
from ledger import NOW, SEED, engine_facts, machine_facts, scratch_database
from lookup import basic_by_email, connect, hub_env, run_loop
from returnhub.demo import load_demo
from returnhub.services.imports.csv_orders import COLUMNS
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import CustomerEmail, ImportRun

PRODUCTS = [(f"SKU-{i:04d}", f"Product {i}", f"{5 + i % 90}.{i % 100:02d}") for i in range(500)]
SIZES = ["XS", "S", "M", "L", "XL"]
MEMORY_MARK = 100_000


def generate(path: Path, orders: int, rng: random.Random) -> int:
    """The orders file; returns its size in bytes."""
    customers = max(1, orders // 2)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(orders):
            customer = rng.randrange(customers)
            placed = start + timedelta(minutes=n)
            delivered = placed + timedelta(days=3)
            phone = f"+1415555{customer % 10000:04d}" if customer % 4 else ""
            for _ in range(rng.choice((1, 1, 2, 3))):
                sku, title, price = rng.choice(PRODUCTS)
                writer.writerow(
                    [
                        f"#B{n + 1:07d}",
                        placed.isoformat().replace("+00:00", "Z"),
                        "USD",
                        f"buyer{customer}@example.com",
                        f"Buyer {customer}",
                        phone,
                        f"{10000 + customer % 89999}",
                        sku,
                        title,
                        rng.choice(SIZES),
                        rng.choice((1, 1, 1, 2)),
                        price,
                        "false" if n % 10 else "true",
                        delivered.isoformat().replace("+00:00", "Z"),
                        "UPS",
                        f"1Z{n:012d}",
                    ]
                )
    return path.stat().st_size


# Current and peak resident size, and the current split: RssAnon is the process's own memory
# (what must stay flat); RssFile is mostly SQLite's memory-mapped database file (store/db.py
# maps up to 256 MiB), pages of the OS cache that grow with the database, not the import.
MEMORY_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def rss_kib(pid: int) -> dict[str, int]:
    """The process's MEMORY_FIELDS, KiB."""
    found: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in MEMORY_FIELDS:
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


@dataclass
class Watch:
    """What the watcher thread saw of the importer: memory at the mark and last, its row."""

    at_mark: dict[str, Any] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    read: int = 0


def watch(db: Database, pid: int, proc: subprocess.Popen[bytes], seen: Watch) -> None:
    while proc.poll() is None:
        memory = rss_kib(pid)
        if memory:
            seen.last = memory
        with db.read() as session:
            run = session.scalar(select(ImportRun).order_by(ImportRun.id.desc()).limit(1))
        if run is not None:
            seen.read = run.read
            if not seen.at_mark and run.read >= MEMORY_MARK and memory:
                seen.at_mark = {"orders_stored": run.read, **memory}
                log(f"{run.read:,} orders stored; importer RSS {memory}")
        time.sleep(0.2)


async def lookups_while(
    base: str,
    requests: Sequence[Any],
    proc: subprocess.Popen[bytes],
    concurrency: int,
    pause: float,
) -> tuple[list[float], dict[int, int]]:
    samples: list[float] = []
    statuses: dict[int, int] = {}
    connections = [connect("raw", base) for _ in range(concurrency)]

    async def one(connection: Any, offset: int) -> None:
        index = offset
        while proc.poll() is None:
            started = time.perf_counter()
            status, _ = await connection.post(requests[index % len(requests)])
            samples.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            index += concurrency
            await asyncio.sleep(pause)

    try:
        await asyncio.gather(*(one(c, i) for i, c in enumerate(connections)))
    finally:
        for connection in connections:
            await connection.close()
    return samples, statuses


def percentile(samples: Sequence[float], pct: int) -> float | None:
    if len(samples) < 2:
        return None
    return round(statistics.quantiles(samples, n=100, method="inclusive")[pct - 1], 2)


def mib(kib: int | None) -> float | None:
    return round(kib / 1024, 1) if kib else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(SEED)
    key = secrets.token_urlsafe(32)
    result: dict[str, Any] = {
        "benchmark": "import_csv",
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine_facts(), "load_average_at_start": os.getloadavg()},
        "orders": args.orders,
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="returnhub-import-")))
        url = stack.enter_context(scratch_database(args.database_url))
        csv_path = tmp / "orders.csv"
        started = time.perf_counter()
        size = generate(csv_path, args.orders, rng)
        log(
            f"generated {args.orders:,} orders, {size / 2**20:,.0f} MiB, in "
            f"{time.perf_counter() - started:.1f} s"
        )
        db = Database.from_settings(Settings(mode="demo", database_url=url))
        stack.callback(db.dispose)
        upgrade(db.engine)
        load_demo(db, customers=args.customers, seed=SEED, now=NOW, console=Console(stderr=True))
        with db.read() as session:
            emails = list(session.scalars(select(CustomerEmail.email)))
        rng.shuffle(emails)
        result["database"] = engine_facts(db)
        result["file"] = {"bytes": size, "rows": sum(1 for _ in csv_path.open("rb")) - 1}
        serve = [sys.executable, "-m", "returnhub.cli", "serve", "--host", "127.0.0.1", "--port"]
        env = hub_env(url, key)
        hub = stack.enter_context(server_process(serve, env, tmp / "serve.log"))
        requests = basic_by_email(key, emails[:2000])
        log(f"returnhub serve up at {hub.base}; importing")
        command = [sys.executable, "-m", "returnhub.cli", "import", "csv", str(csv_path)]
        began = time.perf_counter()
        with (tmp / "import.log").open("wb") as out:
            proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        seen = Watch()
        watcher = threading.Thread(target=watch, args=(db, proc.pid, proc, seen), daemon=True)
        watcher.start()
        samples, statuses = run_loop(
            lookups_while(hub.base, requests, proc, args.concurrency, args.pause)
        )
        code = proc.wait()
        wall = time.perf_counter() - began
        watcher.join(5)
        if code != 0:
            tail = (tmp / "import.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the import exited {code}:\n{tail}")
        with db.read() as session:
            row = session.scalar(select(ImportRun).order_by(ImportRun.id.desc()).limit(1))
        assert row is not None and row.finished_at is not None
        seconds = (row.finished_at - row.started_at).total_seconds()
        result["import"] = {
            "status": row.status,
            "read": row.read,
            "created": row.created,
            "invalid": row.invalid,
            "seconds": round(seconds, 2),
            "orders_per_second": round(row.created / seconds),
            "command_wall_seconds": round(wall, 2),
            "chunk": 2000,
        }
        result["importer_rss_mib"] = {
            "at_100k_orders": {key: mib(seen.at_mark.get(key)) for key in MEMORY_FIELDS},
            "at_end": {key: mib(seen.last.get(key)) for key in MEMORY_FIELDS},
        }
        result["load_average_at_end"] = os.getloadavg()
        result["lookups_during_import"] = {
            "kind": "Gladly BASIC by email, signed, against returnhub serve (1 process)",
            "concurrency": args.concurrency,
            "pause_ms_between_requests": args.pause * 1000,
            "count": len(samples),
            "per_second": round(len(samples) / wall, 1),
            "statuses": {str(k): v for k, v in statuses.items()},
            "p50_ms": percentile(samples, 50),
            "p99_ms": percentile(samples, 99),
        }
        target = 5000 if result["database"]["engine"] == "sqlite" else 2000
        p99 = result["lookups_during_import"]["p99_ms"]
        result["targets"] = {
            "orders_per_second": target,
            "orders_per_second_met": result["import"]["orders_per_second"] >= target,
            "lookup_p99_ms": 50,
            "lookup_p99_met": p99 is not None and p99 < 50,
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the file")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server URL (a scratch database is created and dropped there); "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--customers", type=int, default=1000, help="demo customers to look up")
    # A busy help desk's lookups (tens a second), not a load test: that is bench/lookup.py.
    parser.add_argument("--concurrency", type=int, default=2, help="lookup connections")
    parser.add_argument(
        "--pause", type=float, default=0.05, help="seconds between a connection's lookups"
    )
    args = parser.parse_args(argv)
    return emit(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
