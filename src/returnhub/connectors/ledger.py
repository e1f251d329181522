"""The returnhub ledger as a system like the others, so search and linking treat it the same."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from returnhub.connectors.base import (
    Capability,
    ConnectorSpec,
    ExternalPhone,
    ExternalProfile,
    SearchQuery,
    lower_emails,
)
from returnhub.store.db import Database
from returnhub.store.tables import Customer, CustomerEmail, CustomerPhone, Order

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
            ids: set[int] = set()
            emails = lower_emails(query.emails)
            if emails:
                ids.update(
                    session.scalars(
                        select(CustomerEmail.customer_id).where(CustomerEmail.email.in_(emails))
                    )
                )
            if query.phones:
                ids.update(
                    session.scalars(
                        select(CustomerPhone.customer_id).where(
                            CustomerPhone.number.in_(query.phones)
                        )
                    )
                )
            if query.order_number:
                names = {"#" + query.order_number.strip().lstrip("#"), query.order_number.strip()}
                ids.update(session.scalars(select(Order.customer_id).where(Order.name.in_(names))))
            if not ids:
                return []
            customers = session.scalars(
                select(Customer)
                .where(Customer.id.in_(sorted(ids)[:MAX_RESULTS]))
                .options(selectinload(Customer.emails), selectinload(Customer.phones))
                .order_by(Customer.id)
            ).all()
            return [
                ExternalProfile(
                    system="returnhub",
                    external_id=c.public_id,
                    name=c.name,
                    emails=tuple(e.email for e in c.emails),
                    phones=tuple(ExternalPhone(p.number, p.type) for p in c.phones),
                )
                for c in customers
            ]
