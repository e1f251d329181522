"""The worker applies inbound events in batches: one transaction for many, and the same outcome
per event as one at a time when anything in the batch fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from returnhub.delivery.worker import Worker
from returnhub.store.db import Database
from returnhub.store.tables import Customer, CustomerEmail, InboxEvent, OutboxJob, Return
from tests.test_sync_fidelity import hub_settings
from tests.test_webhooks_inbound import hub, loop_body, post_loop

__all__ = ["hub"]  # the fixture, imported for this module's tests


def created(number: int, **changes: Any) -> bytes:
    """A Loop create for its own return, order and customer."""
    email = f"batch{number}@example.com"
    fields: dict[str, Any] = {
        "id": 9_100_000 + number,
        "order_name": f"#B{number}",
        "customer": email,
        "customer_detail": {"email": email, "first_name": "Batch", "last_name": str(number)},
    }
    return loop_body("return_created", **(fields | changes))


@pytest.fixture
def commits(db: Database) -> Iterator[list[int]]:
    """Every commit on the database's write engine, counted as it happens."""
    seen: list[int] = []
    engine = db._write_engine  # the engine every write transaction runs on

    def count(connection: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", count)
    yield seen
    event.remove(engine, "commit", count)


def outcome(db: Database) -> tuple[dict[str, str], dict[str, str], list[str]]:
    with db.read() as session:
        returns = {
            str(external_id): state
            for external_id, state in session.execute(
                select(Return.external_id, Return.state).where(Return.source_system == "loop")
            )
        }
        inbox = {
            str(public_id): status
            for public_id, status in session.execute(
                select(InboxEvent.public_id, InboxEvent.status)
            )
        }
        jobs = list(
            session.scalars(
                select(OutboxJob.status)
                .where(OutboxJob.kind == "inbox.apply")
                .order_by(OutboxJob.id)
            )
        )
    return returns, inbox, jobs


def test_a_claim_of_events_is_applied_in_one_transaction(
    hub: tuple[TestClient, Worker], db: Database, commits: list[int]
) -> None:
    client, worker = hub
    for number in range(12):
        assert post_loop(client, created(number)).status_code == 202
    commits.clear()
    worker.drain()
    returns, inbox, jobs = outcome(db)
    assert sorted(returns) == sorted(str(9_100_000 + n) for n in range(12))
    assert set(inbox.values()) == {"applied"} and len(inbox) == 12
    assert jobs == ["succeeded"] * 12
    # One claim, one batch (its jobs recorded done in it), the last empty claim, the health
    # flush: not one transaction per event and another per outcome.
    assert len(commits) <= 5, len(commits)


def test_a_bad_event_fails_alone_and_the_rest_apply(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    for number in range(5):
        body = created(number, state="teleported") if number == 2 else created(number)
        assert post_loop(client, body).status_code == 202
    worker.drain()
    returns, inbox, jobs = outcome(db)
    assert sorted(returns) == sorted(str(9_100_000 + n) for n in (0, 1, 3, 4))
    assert sorted(inbox.values()) == ["applied"] * 4 + ["failed"]
    assert sorted(jobs) == ["dead"] + ["succeeded"] * 4
    dead = client.get("/api/v1/outbox", params={"status": "dead"}).json()["data"]
    assert "unknown Loop return state 'teleported'" in dead[0]["last_error"]


def test_two_returns_of_one_new_customer_in_a_batch_make_one_customer(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    """Both events create the same customer; the batch collides on the email and falls back to
    one at a time, which finds the customer the first one made."""
    client, worker = hub
    same = {"customer": "twice@example.com", "customer_detail": {"email": "twice@example.com"}}
    assert post_loop(client, created(1, **same)).status_code == 202
    assert post_loop(client, created(2, **same)).status_code == 202
    worker.drain()
    returns, inbox, jobs = outcome(db)
    assert len(returns) == 2
    assert set(inbox.values()) == {"applied"}
    assert jobs == ["succeeded", "succeeded"]
    with db.read() as session:
        owners = session.scalars(
            select(func.count(func.distinct(Return.customer_id))).where(
                Return.external_id.in_(list(returns))
            )
        ).one()
        emails = session.scalar(
            select(func.count())
            .select_from(CustomerEmail)
            .where(CustomerEmail.email == "twice@example.com")
        )
        customers = session.scalar(select(func.count()).select_from(Customer))
    assert owners == 1
    assert emails == 1
    assert customers is not None and customers >= 1


def test_a_caller_handler_for_the_kind_is_run_one_by_one(
    hub: tuple[TestClient, Worker], db: Database, settings: Any
) -> None:
    """Batching belongs to the default handler: a worker given its own handler for applies runs
    that handler for every job."""
    client, _ = hub
    for number in range(3):
        post_loop(client, created(number))
    seen: list[str] = []
    worker = Worker(db, settings, handlers={"inbox.apply": lambda ctx, job: seen.append(job.kind)})
    try:
        worker.drain()
    finally:
        worker.close()
    assert seen == ["inbox.apply"] * 3


def test_batch_size_one_applies_each_event_in_its_own_transaction(
    hub: tuple[TestClient, Worker], db: Database, settings: Any, commits: list[int]
) -> None:
    client, _ = hub
    for number in range(6):
        post_loop(client, created(number))
    worker = Worker(db, hub_settings(settings, worker_batch_size=1))
    commits.clear()
    try:
        worker.drain()
    finally:
        worker.close()
    returns, _, jobs = outcome(db)
    assert len(returns) == 6 and jobs == ["succeeded"] * 6
    assert len(commits) >= 6
