"""The returnhub ledger as a system like the others, so search and linking treat it the same.

It is the one system whose data is our own: it searches through the customer lookup
(services/customer_lookup.py), the same queries the help desks' searches use, rather than
through a client of its own.
"""

from __future__ import annotations

from returnhub.connectors.base import (
    Capability,
    ConnectorSpec,
    ExternalPhone,
    ExternalProfile,
    SearchQuery,
)
from returnhub.services.customer_lookup import candidates, matching_ids
from returnhub.store.db import Database

SPEC = ConnectorSpec(
    key="returnhub",
    display_name="returnhub ledger",
    capabilities=frozenset({Capability.SEARCH_CUSTOMERS, Capability.SEARCH_ORDERS}),
    settings=(),
)
MAX_RESULTS = 25


class LedgerSystem:
    spec = SPEC

    def __init__(self, db: Database) -> None:
        self.db = db

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]:
        with self.db.read() as session:
            ids = matching_ids(
                session,
                emails=query.emails,
                phones=query.phones,
                order_numbers=(query.order_number,) if query.order_number else (),
            )
            # Oldest first: a stable order, and the same 25 whichever identifier found them.
            found = candidates(session, sorted(ids)[:MAX_RESULTS])
        return [
            ExternalProfile(
                system=SPEC.key,
                external_id=c.customer.public_id,
                name=c.customer.name,
                emails=tuple(e.email for e in c.customer.emails),
                phones=tuple(ExternalPhone(p.number, p.type) for p in c.customer.phones),
            )
            for c in found
        ]
