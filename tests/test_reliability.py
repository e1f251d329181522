"""Durable delivery as an operator sees it: real `returnhub` processes, real loopback HTTP.

- A worker killed with SIGKILL in the middle of a delivery: the next worker delivers the job
  again with the same idempotency key, so an idempotent receiver applies the effect once.
- Several worker processes on PostgreSQL share one outbox: every job is delivered exactly once,
  and SIGTERM stops them cleanly.
- One signed Loop webhook posted three times to `returnhub serve`: stored once, applied once.

Every wait is bounded, every subprocess is killed in ``finally``, all traffic is on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from returnhub.delivery import health, outbox
from returnhub.services import subscriptions
from returnhub.services.commands import CustomerCreate
from returnhub.services.customers import create_customer
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import OutboxJob
from returnhub.store.types import utcnow
from tests.conftest import PostgresServer

RETURNHUB = [sys.executable, "-m", "returnhub.cli"]
FIXTURES = Path(__file__).parent / "fixtures" / "loop"
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
LOOP_SECRET = "loop-reliability-test-secret-0123456789abcdef"


# ---- a webhook receiver -----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Answering a worker we killed fails with a broken pipe: expected here, not news.
        pass


class Receiver:
    """A merchant's endpoint on 127.0.0.1. It applies each delivery's effect once per
    idempotency key (as receivers are told to), and can stall on the first request."""

    def __init__(self, *, first_delay: float = 0.0) -> None:
        self.first_delay = first_delay
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self.effects: list[str] = []  # idempotency keys whose effect was applied
        self.finished = 0  # handlers that ran to the end (answered or tried to)
        self.got_first = threading.Event()
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: workers reuse their connections

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.receive({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def receive(self, headers: dict[str, str], body: bytes) -> None:
        with self.lock:
            first = not self.deliveries
            self.deliveries.append(Delivery(headers, body))
        if first and self.first_delay:
            self.got_first.set()
            self.closing.wait(self.first_delay)
        key = headers.get("idempotency-key", "")
        with self.lock:
            if key not in self.effects:
                self.effects.append(key)
            self.finished += 1

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# ---- processes and waiting --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hub_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env.update(
        RETURNHUB_DATABASE_URL=url,
        RETURNHUB_WORKER_POLL_SECONDS="0.1",
        RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",  # the receivers listen on loopback
        **extra,
    )
    return env


class Processes:
    """Started `returnhub` subprocesses, each logging to its own file; all killed at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        path = self.logs / f"{name}.log"
        with path.open("wb") as out:
            proc = subprocess.Popen(
                [*RETURNHUB, *args], env=env, cwd=self.logs, stdout=out, stderr=subprocess.STDOUT
            )
        self.started.append((proc, path))
        return proc

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name} (exit {proc.poll()}):\n{path.read_text(errors='replace')[-3000:]}"
            for proc, path in self.started
        )

    def kill_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.kill_all()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, procs: Processes | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = procs.output() if procs is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{detail}")
        time.sleep(0.05)


# ---- databases --------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reliability.db'}"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create()
    try:
        yield url
    finally:
        postgres_server.drop(url)


@pytest.fixture
def hub_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database on the engine the test is parametrised with."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    # The receivers listen on loopback.
    db = Database.from_settings(Settings(database_url=url, webhook_allow_private_targets=True))
    upgrade(db.engine)
    try:
        yield db
    finally:
        db.dispose()


ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def settings_of(db: Database) -> Settings:
    assert db.settings is not None, "hub_db opens its database with Database.from_settings"
    return db.settings


def jobs(db: Database) -> list[tuple[str, int]]:
    with db.read() as session:
        rows = session.execute(select(OutboxJob.status, OutboxJob.attempts).order_by(OutboxJob.id))
        return [(status, attempts) for status, attempts in rows]


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


# ---- a. SIGKILL mid-delivery ------------------------------------------------------------------


@pytest.mark.parametrize("hub_db", ENGINES, indirect=True)
def test_killed_worker_mid_delivery_is_redelivered_with_the_same_keys(
    hub_db: Database, processes: Processes
) -> None:
    with Receiver(first_delay=3.0) as receiver:
        with hub_db.write() as session:
            subscriptions.create(
                session,
                settings_of(hub_db),
                subscriptions.Target(receiver.url, ["customer.created"]),
            )
        with hub_db.write() as session:
            create_customer(session, CustomerCreate(name="Ada", emails=["ada@example.com"]))
        assert jobs(hub_db) == [("pending", 0)]
        env = hub_env(url_of(hub_db), RETURNHUB_OUTBOX_LEASE_SECONDS="2")
        first = processes.start("worker-1", ["worker", "--concurrency", "1"], env)
        if not receiver.got_first.wait(30):
            pytest.fail(f"the first worker never delivered\n{processes.output()}")
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        assert jobs(hub_db) == [("in_flight", 1)]

        processes.start("worker-2", ["worker", "--concurrency", "1"], env)
        wait_until(lambda: jobs(hub_db) == [("succeeded", 2)], 30, "the redelivery", processes)
        wait_until(lambda: receiver.finished == 2, 10, "both requests to finish")

    assert len(receiver.deliveries) == 2
    before, after = (d.headers for d in receiver.deliveries)
    assert before["idempotency-key"] == after["idempotency-key"]
    assert before["idempotency-key"].startswith("deliver:evt_")
    assert before["webhook-id"] == after["webhook-id"]
    assert before["webhook-id"].startswith("evt_")
    assert receiver.deliveries[0].body == receiver.deliveries[1].body
    # The receiver deduplicates on the key: two deliveries, one effect.
    assert receiver.effects == [before["idempotency-key"]]


# ---- b. several workers share the outbox ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("hub_db", ["postgres"], indirect=True)
def test_four_workers_deliver_a_thousand_jobs_exactly_once(
    hub_db: Database, processes: Processes
) -> None:
    total = 1000
    with Receiver() as receiver:
        with hub_db.write() as session:
            # No health row yet: the four workers race to create it, which must cost nothing.
            subscriptions.create(
                session,
                settings_of(hub_db),
                subscriptions.Target(receiver.url, ["customer.created"]),
            )
        for batch in range(4):
            with hub_db.write() as session:
                for i in range(total // 4):
                    n = batch * (total // 4) + i
                    create_customer(session, CustomerCreate(name=f"Customer {n}"))
        with hub_db.read() as session:
            assert outbox.counts_by_status(session)["pending"] == total

        # A short lease bounds the test should a job ever be stranded in flight.
        env = hub_env(url_of(hub_db), RETURNHUB_OUTBOX_LEASE_SECONDS="20")
        workers = [
            processes.start(f"worker-{i}", ["worker", "--concurrency", "4"], env) for i in range(4)
        ]

        def drained() -> bool:
            with hub_db.read() as session:
                return outbox.counts_by_status(session)["succeeded"] == total

        wait_until(drained, 120, f"{total} deliveries", processes)

        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        codes = []
        for proc in workers:
            try:
                codes.append(proc.wait(max(deadline - time.monotonic(), 0.1)))
            except subprocess.TimeoutExpired:
                pytest.fail(f"a worker ignored SIGTERM for 15 s\n{processes.output()}")
        assert codes == [0, 0, 0, 0], processes.output()

    ids = Counter(d.headers["webhook-id"] for d in receiver.deliveries)
    assert len(ids) == total
    assert set(ids.values()) == {1}, [k for k, n in ids.items() if n > 1][:10]
    assert len(receiver.effects) == total
    assert {attempts for _, attempts in jobs(hub_db)} == {1}
    # Each worker left through its graceful path (in-flight jobs finished, the rest released).
    logs = processes.output()
    assert logs.count("worker_stopped") == 4, logs


def _lock_waiters(db: Database) -> int:
    with db.read() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(waiting or 0)


@pytest.mark.postgres
@pytest.mark.parametrize("hub_db", ["postgres"], indirect=True)
def test_two_workers_recording_a_connectors_first_success_both_commit(hub_db: Database) -> None:
    now = utcnow()
    errors: list[Exception] = []

    def second_worker() -> None:
        try:
            with hub_db.write() as session:
                health.record_success(session, "webhooks", now)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=second_worker)
    with hub_db.write() as session:
        health.record_success(session, "webhooks", now)
        session.flush()  # inserted, not committed: the second worker's insert must wait
        thread.start()
        wait_until(lambda: _lock_waiters(hub_db) > 0, 10, "the second insert to wait")
    thread.join(10)
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    with hub_db.read() as session:
        assert [(h.connector, h.successes) for h in health.all_health(session)] == [("webhooks", 2)]


# ---- c. the same Loop webhook, three times ----------------------------------------------------


def test_a_loop_webhook_posted_three_times_is_applied_once(
    sqlite_url: str, processes: Processes
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = hub_env(sqlite_url, RETURNHUB_LOOP_WEBHOOK_SECRET=LOOP_SECRET)
    server = processes.start("serve", ["serve", "--port", str(port)], env)
    body = (FIXTURES / "return_created.json").read_bytes()
    signature = base64.b64encode(hmac.new(LOOP_SECRET.encode(), body, hashlib.sha256).digest())
    headers = {"content-type": "application/json", "x-loop-signature": signature.decode()}

    with httpx.Client(base_url=base, headers=AUTH, timeout=10) as client:

        def ready() -> bool:
            if server.poll() is not None:
                pytest.fail(f"returnhub serve exited\n{processes.output()}")
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 30, "returnhub serve", processes)
        answers = [client.post("/webhooks/loop", content=body, headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 200, 200], [a.text for a in answers]
        assert [a.json()["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
        assert len({a.json()["id"] for a in answers}) == 1

        def returns() -> list[dict[str, Any]]:
            response = client.get("/api/v1/returns", params={"limit": 5})
            assert response.status_code == 200, response.text
            data: list[dict[str, Any]] = response.json()["data"]
            return data

        wait_until(lambda: len(returns()) > 0, 20, "the embedded worker to apply it", processes)
        found = returns()
        assert [(r["source_system"], r["external_id"]) for r in found] == [("loop", "8815306")]

        inbox = client.get("/api/v1/inbox").json()["data"]
        assert [(e["source"], e["event_type"], e["status"]) for e in inbox] == [
            ("loop", "return.created", "applied")
        ]

        def apply_jobs() -> list[dict[str, Any]]:
            data: list[dict[str, Any]] = client.get(
                "/api/v1/outbox", params={"kind": "inbox.apply"}
            ).json()["data"]
            return data

        wait_until(
            lambda: [j["status"] for j in apply_jobs()] == ["succeeded"], 10, "the apply job"
        )
        assert [j["attempts"] for j in apply_jobs()] == [1]

    server.terminate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -SIGTERM).
    assert server.wait(15) in (0, -signal.SIGTERM), processes.output()
    assert "Application shutdown complete" in processes.output()


# ---- the worker as a child process of serve ---------------------------------------------------


def _children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (a restarted worker is the supervisor thread's)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue  # the thread ended meanwhile
    return found


def _worker_child(server: subprocess.Popen[bytes]) -> int | None:
    for pid in _children(server.pid):
        try:
            if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except FileNotFoundError:
            continue
    return None


@pytest.mark.parametrize("hub_db", ENGINES, indirect=True)
def test_serve_runs_its_worker_as_a_child_process_and_restarts_it(
    hub_db: Database, processes: Processes
) -> None:
    """RETURNHUB_EMBEDDED_WORKER_MODE=process: one `returnhub serve` applies webhooks through a
    worker process of its own, starts a new one when it is killed, and takes it down on stop."""
    port = free_port()
    env = hub_env(
        url_of(hub_db),
        RETURNHUB_LOOP_WEBHOOK_SECRET=LOOP_SECRET,
        RETURNHUB_EMBEDDED_WORKER_MODE="process",
    )
    server = processes.start("serve", ["serve", "--port", str(port)], env)
    created = json.loads((FIXTURES / "return_created.json").read_bytes())

    def post(client: httpx.Client, return_id: int) -> None:
        body = json.dumps({**created, "id": return_id}).encode()
        digest = hmac.new(LOOP_SECRET.encode(), body, hashlib.sha256).digest()
        headers = {"x-loop-signature": base64.b64encode(digest).decode()}
        answer = client.post("/webhooks/loop", content=body, headers=headers)
        assert answer.status_code == 202, answer.text

    def applied(client: httpx.Client) -> set[str]:
        data = client.get("/api/v1/returns", params={"limit": 10}).json()["data"]
        return {r["external_id"] for r in data}

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:

        def ready() -> bool:
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 30, "returnhub serve", processes)
        wait_until(lambda: _worker_child(server) is not None, 30, "the worker child", processes)
        first = _worker_child(server)
        assert first is not None
        post(client, 7001)
        wait_until(lambda: "7001" in applied(client), 30, "the child to apply it", processes)

        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: _worker_child(server) not in (None, first), 30, "a new worker", processes
        )
        post(client, 7002)
        wait_until(lambda: "7002" in applied(client), 30, "the new child to apply", processes)
        second = _worker_child(server)

    server.terminate()
    assert server.wait(30) in (0, -signal.SIGTERM), processes.output()
    assert second is not None and not Path(f"/proc/{second}").exists(), "worker outlived serve"


def test_the_worker_child_stops_when_its_server_is_killed(
    sqlite_url: str, processes: Processes
) -> None:
    """SIGKILL leaves the server no chance to stop its worker: the worker notices its parent is
    gone and stops itself (in-flight jobs finish), so no orphan works on beside a new server."""
    port = free_port()
    env = hub_env(sqlite_url, RETURNHUB_EMBEDDED_WORKER_MODE="process")
    server = processes.start("serve", ["serve", "--port", str(port)], env)
    wait_until(lambda: _worker_child(server) is not None, 30, "the worker child", processes)
    child = _worker_child(server)
    assert child is not None
    server.kill()
    server.wait(10)
    wait_until(lambda: not Path(f"/proc/{child}").exists(), 30, "the orphan to stop", processes)
