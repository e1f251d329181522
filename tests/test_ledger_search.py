"""The ledger searched as a system: by email in any case, by phone in E.164, by order number
with or without its ``#``; oldest customer first, each once, with contacts in their order."""

from __future__ import annotations

from fastapi.testclient import TestClient

from returnhub.connectors.base import ExternalPhone, SearchQuery
from returnhub.connectors.ledger import MAX_RESULTS, LedgerSystem
from returnhub.store.db import Database
from tests.conftest import Clock
from tests.factories import create_customer, create_order


def test_ledger_finds_by_any_identifier(client: TestClient, db: Database, clock: Clock) -> None:
    first = create_customer(
        client,
        emails=["Ana@Example.com", "ana.work@example.com"],
        phones=[
            {"number": "+14155550101", "type": "MOBILE"},
            {"number": "+14155550102", "type": "HOME"},
        ],
    )
    second = create_customer(client, phones=[{"number": "+14155550199", "type": "HOME"}])
    order = create_order(client, clock.now, second["id"], name="#4242")
    ledger = LedgerSystem(db)

    by_email = ledger.search_customers(SearchQuery(emails=(" ANA@example.COM ",)), 1.0)
    assert [p.external_id for p in by_email] == [first["id"]]
    assert by_email[0].emails == ("ana@example.com", "ana.work@example.com")
    assert by_email[0].phones == (
        ExternalPhone("+14155550101", "MOBILE"),
        ExternalPhone("+14155550102", "HOME"),
    )
    assert by_email[0].system == "returnhub"

    for number in ("4242", "#4242"):
        found = ledger.search_customers(SearchQuery(order_number=number), 1.0)
        assert [p.external_id for p in found] == [order["customer_id"]]

    both = ledger.search_customers(
        SearchQuery(phones=("+14155550199",), emails=("ana@example.com",), order_number="4242"),
        1.0,
    )
    assert [p.external_id for p in both] == [first["id"], second["id"]]  # oldest first, once
    assert ledger.search_customers(SearchQuery(emails=("nobody@example.com",)), 1.0) == []


def test_ledger_answers_at_most_the_oldest_25(client: TestClient, db: Database) -> None:
    made = [
        create_customer(client, emails=[f"c{i}@example.com"])["id"] for i in range(MAX_RESULTS + 3)
    ]
    query = SearchQuery(emails=tuple(f"c{i}@example.com" for i in reversed(range(len(made)))))
    found = LedgerSystem(db).search_customers(query, 1.0)
    assert [p.external_id for p in found] == made[:MAX_RESULTS]
