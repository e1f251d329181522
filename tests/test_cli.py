"""The CLI as a user runs it: real processes, real files, real ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

RETURNHUB = [sys.executable, "-m", "returnhub.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env["RETURNHUB_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RETURNHUB, *args],
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_keys_create_prints_the_key_alone(tmp_path: Path) -> None:
    result = _run(
        tmp_path, "keys", "create", "--scope", "agent", "--scope", "helpdesk", "--name", "bot"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("rh_")
    assert "not shown again" in result.stderr
    listed = _run(tmp_path, "keys", "list")
    assert "agent,helpdesk" in listed.stdout
    assert lines[0] not in listed.stdout


def test_keys_create_refuses_unknown_scope(tmp_path: Path) -> None:
    result = _run(tmp_path, "keys", "create", "--scope", "root")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "scopes are admin, agent, helpdesk, warehouse" in result.stderr


def test_production_mode_refuses_weak_secret(tmp_path: Path) -> None:
    result = _run(
        tmp_path, "migrate", RETURNHUB_MODE="production", RETURNHUB_SECRET_KEY="change-me"
    )
    assert result.returncode == 2
    assert "RETURNHUB_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("access_log", ["true", "false"])
def test_serve_migrates_and_answers(tmp_path: Path, access_log: str) -> None:
    port = _free_port()
    key = _run(tmp_path, "keys", "create", "--scope", "admin").stdout.strip()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*RETURNHUB, "serve", "--port", str(port)],
            env={**_env(tmp_path), "RETURNHUB_ACCESS_LOG": access_log},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("returnhub serve did not come up")
                time.sleep(0.2)
        assert ready.json() == {
            "status": "ready",
            "database": "sqlite",
            "backlog": {
                "intake": "accepting",
                "unapplied_events": 0,
                "oldest_unapplied_seconds": 0,
            },
        }
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/customers",
            json={"name": "Served", "emails": ["served@example.com"]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    logged = log_path.read_text(errors="replace")
    assert ('"POST /api/v1/customers HTTP/1.1" 201' in logged) is (access_log == "true"), logged


def test_demo_loads_once(tmp_path: Path) -> None:
    first = _run(tmp_path, "demo", "--customers", "20", "--seed", "3")
    assert first.returncode == 0, first.stderr
    again = _run(tmp_path, "demo", "--customers", "20")
    assert again.returncode == 1
    assert "already" in again.stderr
    skipped = _run(tmp_path, "demo", "--customers", "20", "--if-empty")
    assert skipped.returncode == 0
    assert "skipped" in skipped.stderr


def test_webhooks_and_outbox_commands(tmp_path: Path) -> None:
    added = _run(
        tmp_path,
        *("webhooks", "add", "http://127.0.0.1:9/hook", "--event", "customer.created"),
        RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",  # a loopback receiver
    )
    assert added.returncode == 0, added.stderr
    sub_id, secret = added.stdout.strip().split("\t")
    assert sub_id.startswith("whs_")
    assert secret.startswith("whsec_")
    assert sub_id in _run(tmp_path, "webhooks", "list").stdout
    bad = _run(tmp_path, "webhooks", "add", "nope", "--event", "x")
    assert bad.returncode == 2
    assert "url" in bad.stderr

    # An event for the subscription becomes a job; a dead job can be replayed.
    from returnhub.delivery import outbox
    from returnhub.services.commands import CustomerCreate
    from returnhub.services.customers import create_customer
    from returnhub.settings import Settings
    from returnhub.store.db import Database
    from returnhub.store.tables import OutboxJob

    db = Database.from_settings(Settings(database_url=f"sqlite:///{tmp_path}/cli.db"))
    with db.write() as session:
        create_customer(session, CustomerCreate(name="Ada"))
    with db.write() as session:
        job = session.query(OutboxJob).one()
        job.status = outbox.JobStatus.DEAD.value
        job_id = job.public_id
    db.dispose()
    listed = _run(tmp_path, "outbox", "list", "--status", "dead")
    assert listed.stdout.split("\t")[:3] == [job_id, "webhook.deliver", "dead"]
    assert _run(tmp_path, "outbox", "list", "--status", "zombie").returncode == 2
    replayed = _run(tmp_path, "outbox", "replay", job_id)
    assert replayed.returncode == 0
    assert replayed.stdout.strip() == job_id
    assert _run(tmp_path, "outbox", "replay", job_id).returncode == 1
    assert _run(tmp_path, "outbox", "replay").returncode == 2
    assert _run(tmp_path, "outbox", "replay", "--all-dead").stdout == ""
    removed = _run(tmp_path, "webhooks", "remove", sub_id)
    assert removed.returncode == 0


@pytest.mark.parametrize("command", [["migrate"], ["outbox", "list"], ["outbox", "explain"]])
def test_an_unreachable_database_is_one_clear_line_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"postgresql+psycopg://returnhub:s3cret-pw@127.0.0.1:{_free_port()}/returnhub"
    result = _run(tmp_path, *command, RETURNHUB_DATABASE_URL=url)
    assert result.returncode == 1, result.stderr
    assert "cannot use the database" in result.stderr
    assert "RETURNHUB_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr + result.stdout
