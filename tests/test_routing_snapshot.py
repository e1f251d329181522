"""The DETAILED lookup builds routing facts from rows it already loaded; they must equal the
facts the routing service reads itself, for every kind of customer the demo data has."""

from __future__ import annotations

from sqlalchemy import select

from returnhub.demo import load_demo
from returnhub.domain.routing import CustomerSnapshot
from returnhub.services import customer_lookup, routing
from returnhub.store.db import Database
from returnhub.store.tables import Customer
from tests.conftest import TEST_NOW


def test_snapshot_from_loaded_rows_equals_the_queried_one(db: Database) -> None:
    load_demo(db, customers=60, seed=11, now=TEST_NOW)
    with db.read() as session:
        ids = session.scalars(select(Customer.public_id).order_by(Customer.id)).all()
        assert len(ids) == 60
        for public_id in ids:
            found = customer_lookup.profile(session, public_id)
            assert found is not None
            loaded = routing.snapshot_from_loaded(
                session,
                found.customer.tags or (),
                found.returns,
                found.orders[0] if found.orders else None,
            )
            queried = routing.customer_snapshot(
                session, found.customer.id, found.customer.tags or ()
            )
            assert loaded.tags == queried.tags
            assert loaded.latest_order == queried.latest_order
            assert _normalised(loaded) == _normalised(queried)


def _normalised(snapshot: CustomerSnapshot) -> list[tuple[object, ...]]:
    """Returns in id order with their outcomes sorted (item order is not part of the facts)."""
    return sorted(
        (
            r.id,
            r.state,
            r.refund_state,
            r.refund_amount,
            r.created_at,
            r.updated_at,
            r.received_at,
            r.processed_at,
            tuple(sorted(r.outcomes)),
        )
        for r in snapshot.returns
    )
