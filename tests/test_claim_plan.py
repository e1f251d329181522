"""The PostgreSQL claim keeps a good plan whatever the outbox's size and statistics.

The stall this guards against: a worker's claim statement was prepared server-side (psycopg
prepares after five executions) while the outbox held a few rows; with those statistics the
planner collected every due row, checked each one's lock key and sorted them, so once a backlog
built up every claim cost time in proportion to it (2 s, then 20 s). The test reproduces that
history on a freshly migrated, never-analyzed database, then reads the plans PostgreSQL itself
reports for the claim as the worker runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, text

from returnhub.delivery import outbox
from returnhub.domain.ids import Prefix, new_id
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import OutboxJob
from returnhub.store.types import utcnow
from tests.conftest import database_url

BACKLOG = 20_000
LIMIT = 8


@pytest.fixture
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = database_url("postgresql", request, tmp_path)
    db = Database.from_settings(Settings(database_url=url))
    upgrade(db.engine)
    with db.engine.begin() as conn:
        # Never analyzed, and autovacuum may not analyze it behind the test's back either.
        conn.execute(text("ALTER TABLE outbox_jobs SET (autovacuum_enabled = false)"))
    yield db
    db.dispose()


def _claim_round(conn: Connection) -> int:
    with conn.begin():
        jobs = outbox.claim(conn, "w1", utcnow(), limit=LIMIT, lease=timedelta(seconds=60))
        outbox.succeed_many(conn, jobs, "w1", utcnow())
    return len(jobs)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.postgres
def test_claims_never_scan_the_backlog_on_a_never_analyzed_table(fresh: Database) -> None:
    with fresh.engine.connect() as conn:  # one connection, as a worker keeps its own
        for i in range(24):
            outbox.enqueue(conn, "inbox.apply", {"i": i}, lock_key=f"loop:return:{i % 6}")
        conn.commit()
        for _ in range(8):  # more than psycopg's five: the claims are now prepared statements
            _claim_round(conn)
        conn.execute(
            insert(OutboxJob),
            [
                {
                    "public_id": new_id(Prefix.JOB),
                    "kind": "inbox.apply",
                    "payload": {"i": i},
                    "status": "pending",
                    # Three events per return: two of every three wait behind an earlier one.
                    "lock_key": f"loop:return:{i // 3}",
                }
                for i in range(BACKLOG)
            ],
        )
        conn.commit()
        for _ in range(6):
            assert _claim_round(conn) == LIMIT
        analyzed = conn.execute(
            text(
                "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                "WHERE relname = 'outbox_jobs'"
            )
        ).one()
        assert analyzed == (None, None)
        prepared = conn.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'UPDATE outbox_jobs SET status=%attempts=%'"
            )
        ).all()
        assert len(prepared) == 2, "both claim statements run server-side prepared"
        assert all(generic == 0 for generic, _ in prepared), prepared
        conn.commit()

        plans = outbox.claim_plans(conn, utcnow(), limit=LIMIT)
        expired, due = (plan[0]["Plan"]["Actual Rows"] for plan in plans)
        assert (expired, due) == (0, LIMIT)  # the plans are of claims that did claim
        for plan in plans:
            nodes = list(_nodes(plan[0]["Plan"]))
            touched = [
                (n["Node Type"], n.get("Index Name"), n["Actual Rows"] * n["Actual Loops"])
                for n in nodes
                if n.get("Relation Name") == "outbox_jobs" and n["Node Type"] != "ModifyTable"
            ]
            assert touched, plan
            for node_type, _, rows in touched:
                # An index walk that stops at the limit: nothing reads the backlog row by row.
                assert node_type in ("Index Scan", "Index Only Scan"), touched
                assert rows <= 4 * LIMIT, touched
            assert plan[0]["Execution Time"] < 50, plan[0]["Execution Time"]


@pytest.mark.postgres
def test_outbox_explain_prints_the_claim_plans(fresh: Database) -> None:
    with fresh.engine.begin() as conn:
        outbox.enqueue(conn, "inbox.apply", {}, lock_key="loop:return:1")
    url = fresh.engine.url.render_as_string(hide_password=False)
    shown = _cli("outbox", "explain", database_url=url)
    assert shown.returncode == 0, shown.stderr
    _, due = json.loads(shown.stdout)
    assert due[0]["Plan"]["Actual Rows"] == 1  # rolled back: the job is still pending
    with fresh.engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM outbox_jobs")).scalar() == "pending"


def test_outbox_explain_says_it_needs_postgresql(tmp_path: Path) -> None:
    shown = _cli("outbox", "explain", database_url=f"sqlite:///{tmp_path}/x.db")
    assert shown.returncode == 2 and "PostgreSQL" in shown.stderr


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env["RETURNHUB_DATABASE_URL"] = database_url
    return subprocess.run(
        [str(Path(sys.executable).parent / "returnhub"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
