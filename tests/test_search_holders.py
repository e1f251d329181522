"""The search entry point names who holds each match in one query, however many matches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from returnhub.connectors.base import Capability, ConnectorSpec, ExternalProfile, SearchQuery
from returnhub.services import linking, search
from returnhub.services.commands import CustomerCreate
from returnhub.services.customers import create_customer
from returnhub.settings import Settings
from returnhub.store.db import Database

SPEC = ConnectorSpec(
    key="loop",
    display_name="fake Loop",
    capabilities=frozenset({Capability.SEARCH_CUSTOMERS}),
    settings=(),
)


class FakeSystem:
    """Answers every search with ``count`` profiles sharing one email (so one search row)."""

    spec = SPEC

    def __init__(self, count: int) -> None:
        self.count = count

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]:
        return [
            ExternalProfile("loop", f"loop-{i}", f"Profile {i}", emails=("pat@example.com",))
            for i in range(self.count)
        ]


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def _held_profiles(db: Database) -> dict[str, str]:
    """Two customers each holding one fake Loop profile: external id → holder."""
    held = {}
    with db.write() as session:
        for i in (0, 3):
            customer = create_customer(
                session, CustomerCreate(name=f"Holder {i}", emails=[f"holder{i}@example.com"])
            )
            linking.link(
                session,
                customer.public_id,
                "loop",
                f"loop-{i}",
                how="manual",
                actor="test",
                known_systems={"loop"},
            )
            held[f"loop-{i}"] = customer.public_id
    return held


@pytest.mark.parametrize("matches", [1, 5, 60])
def test_holders_are_one_query_whatever_the_number_of_matches(
    settings: Settings,
    db: Database,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
    matches: int,
) -> None:
    held = _held_profiles(db)
    monkeypatch.setattr(search, "configured_systems", lambda *_: {"loop": FakeSystem(matches)})
    statements.clear()
    with httpx.Client() as http:
        result = search.search(
            settings,
            db,
            http,
            search.SearchTerms(email="pat@example.com"),
            search.AllSystems(),
        )
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    found = {m.external_id: m.holder for row in result.rows for m in row.matches}
    assert len(found) == matches
    assert found == {f"loop-{i}": held.get(f"loop-{i}") for i in range(matches)}


def test_no_matches_runs_no_holder_query(
    settings: Settings, db: Database, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "configured_systems", lambda *_: {"loop": FakeSystem(0)})
    with httpx.Client() as http:
        result = search.search(
            settings, db, http, search.SearchTerms(email="nobody@example.com"), search.AllSystems()
        )
    assert result.rows == []
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]
