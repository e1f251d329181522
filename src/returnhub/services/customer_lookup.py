"""Customer lookups for help desks: auto-link suggestions, manual search and the detailed
profile (returns, orders, the attributes routing and agents need), read from the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from returnhub.domain.contact import normalize_phone
from returnhub.domain.errors import InvalidInput
from returnhub.domain.lifecycle import OPEN_STATES, ReturnState
from returnhub.services.lookup import name_contains
from returnhub.store.tables import Customer, CustomerEmail, CustomerPhone, Order, Return

MAX_RESULTS = 25
RECENT_ORDERS = 10


@dataclass(frozen=True)
class LookupQuery:
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    name: str = ""
    order_numbers: tuple[str, ...] = ()


def _phones_e164(raw: Sequence[str], region: str) -> list[str]:
    numbers = []
    for value in raw:
        try:
            numbers.append(normalize_phone(value, region))
        except InvalidInput:
            continue  # a number we cannot read matches nobody; it is not an error to search
    return numbers


# Joined, not selectin-loaded: one round trip instead of three for a handful of rows.
CONTACTS = (joinedload(Customer.emails), joinedload(Customer.phones))


def auto_link(session: Session, query: LookupQuery, region: str) -> Customer | None:
    """The one customer an unlinked help-desk profile should link to, or None.

    Like Gladly's own rule: a match needs an email (lower-cased, trimmed) or a MOBILE phone
    in E.164; more than one candidate links nobody, because a wrong link is worse than none.
    """
    emails = [e.strip().lower() for e in query.emails if e.strip()]
    phones = _phones_e164(query.phones, region)
    ids: set[int] = set()
    if emails:
        ids.update(
            session.scalars(
                select(CustomerEmail.customer_id).where(CustomerEmail.email.in_(emails))
            )
        )
    if phones:
        ids.update(
            session.scalars(
                select(CustomerPhone.customer_id).where(
                    CustomerPhone.number.in_(phones), CustomerPhone.type == "MOBILE"
                )
            )
        )
    if len(ids) != 1:
        return None
    return (
        session.execute(select(Customer).where(Customer.id == ids.pop()).options(*CONTACTS))
        .unique()
        .scalar_one_or_none()
    )


def search(session: Session, query: LookupQuery, region: str) -> list[Customer]:
    """Every candidate for a manual search (any identifier matching), at most 25."""
    ids: list[int] = []

    def add(found: Sequence[int]) -> None:
        for key in found:
            if key not in ids:
                ids.append(key)

    emails = [e.strip().lower() for e in query.emails if e.strip()]
    if emails:
        add(
            session.scalars(
                select(CustomerEmail.customer_id).where(CustomerEmail.email.in_(emails))
            ).all()
        )
    phones = _phones_e164(query.phones, region)
    if phones:
        add(
            session.scalars(
                select(CustomerPhone.customer_id).where(CustomerPhone.number.in_(phones))
            ).all()
        )
    if query.order_numbers:
        names = {f"#{n.strip().lstrip('#')}" for n in query.order_numbers if n.strip().lstrip("#")}
        names |= {n.strip() for n in query.order_numbers if n.strip()}
        add(session.scalars(select(Order.customer_id).where(Order.name.in_(names))).all())
    if query.name.strip() and not ids and not (emails or phones or query.order_numbers):
        add(
            session.scalars(
                select(Customer.id)
                .where(name_contains(query.name))
                .order_by(Customer.id)
                .limit(MAX_RESULTS)
            ).all()
        )
    ids = ids[:MAX_RESULTS]
    if not ids:
        return []
    found = {
        c.id: c
        for c in session.execute(select(Customer).where(Customer.id.in_(ids)).options(*CONTACTS))
        .unique()
        .scalars()
    }
    return [found[i] for i in ids if i in found]


@dataclass
class Profile:
    """A customer with what the detailed lookup shows: their returns and recent orders."""

    customer: Customer
    returns: list[Return] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)

    @property
    def open_returns(self) -> list[Return]:
        return [r for r in self.returns if ReturnState(r.state) in OPEN_STATES]

    @property
    def most_relevant_return(self) -> Return | None:
        """An open return first (the most recently updated), else the latest one."""
        if self.open_returns:
            return max(self.open_returns, key=lambda r: (r.updated_at, r.id))
        return max(self.returns, key=lambda r: (r.created_at, r.id), default=None)

    def refund_pending_days(self, now: datetime) -> int | None:
        """Days the longest-waiting refund has been pending since the goods came back."""
        waits = [
            (now - r.received_at).days
            for r in self.returns
            if r.refund_state == "pending" and r.received_at is not None
        ]
        return max(waits) if waits else None


def profile(session: Session, customer_public_id: str) -> Profile | None:
    """Three queries (customer with contacts, returns with items, recent orders with lines and
    fulfilments), joined rather than selectin-loaded: each round trip through the ORM costs
    more CPU than the rows it brings, and a help desk waits on this."""
    customer = (
        session.execute(
            select(Customer)
            .where(Customer.public_id == customer_public_id)
            .options(joinedload(Customer.emails), joinedload(Customer.phones))
        )
        .unique()
        .scalar_one_or_none()
    )
    if customer is None:
        return None
    returns = list(
        session.execute(
            select(Return)
            .where(Return.customer_id == customer.id)
            .options(joinedload(Return.items))
            .order_by(Return.id.desc())
        )
        .unique()
        .scalars()
    )
    recent = list(
        session.execute(
            select(Order)
            .where(Order.customer_id == customer.id)
            .options(joinedload(Order.lines), joinedload(Order.fulfillments))
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(RECENT_ORDERS)
        )
        .unique()
        .scalars()
    )
    return Profile(customer, returns, recent)
