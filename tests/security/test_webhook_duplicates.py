"""Keep: a webhook posted many times at once is stored once and applied once.

Sequential duplicates are covered in tests/test_webhooks_inbound.py and, across processes, in
tests/test_reliability.py; the group-commit writer's own race in tests/test_group_commit.py.
This one races the same signed delivery through the HTTP intake.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from returnhub.delivery.worker import Worker
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent, Return

# hub is test_sync_fidelity's fixture (app plus a worker the test drives by hand).
from tests.test_sync_fidelity import RID, hub, loop_payload, post_loop  # noqa: F401

SENDERS = 16


def test_the_same_webhook_posted_concurrently_is_stored_and_applied_once(
    hub: tuple[TestClient, Worker],  # noqa: F811
    db: Database,
) -> None:
    client, worker = hub
    payload = loop_payload("return_created", edited_at=None)
    with ThreadPoolExecutor(SENDERS) as pool:
        answers = list(pool.map(lambda _: post_loop(client, payload), range(SENDERS)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (SENDERS - 1) + [202], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    worker.drain()
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 1
        returns = session.scalars(select(Return).where(Return.external_id == RID)).all()
    assert [r.source_system for r in returns] == ["loop"]
