"""Customer lookups for help desks: auto-link suggestions, manual search and the detailed
profile (returns, orders, the attributes routing and agents need), read from the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    func,
    literal_column,
    null,
    select,
    union_all,
)

from returnhub.domain.contact import normalize_phone
from returnhub.domain.errors import InvalidInput
from returnhub.domain.lifecycle import OPEN_STATES
from returnhub.services.lookup import name_like, name_pattern
from returnhub.store.prepared import PreparedSelect, Reader, fetch
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerLink,
    CustomerPhone,
    Fulfillment,
    Order,
    OrderLine,
    Return,
    ReturnItem,
)

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


def _column(rows: Sequence[tuple[Any, ...]]) -> list[Any]:
    return [row[0] for row in rows]


def auto_link(reader: Reader, query: LookupQuery, region: str) -> Candidate | None:
    """The one customer an unlinked help-desk profile should link to, or None.

    Like Gladly's own rule: a match needs an email (lower-cased, trimmed) or a MOBILE phone
    in E.164; more than one candidate links nobody, because a wrong link is worse than none.
    """
    emails = [e.strip().lower() for e in query.emails if e.strip()]
    phones = _phones_e164(query.phones, region)
    q = _search_statements()
    ids: set[int] = set()
    if emails:
        ids.update(_column(fetch(reader, q.by_email, {"emails": emails})))
    if phones:
        ids.update(_column(fetch(reader, q.by_mobile, {"phones": phones})))
    if len(ids) != 1:
        return None
    found = candidates(reader, list(ids))
    return found[0] if found else None


def search(reader: Reader, query: LookupQuery, region: str) -> list[Candidate]:
    """Every candidate for a manual search (any identifier matching), at most 25."""
    phones = _phones_e164(query.phones, region)
    ids = matching_ids(
        reader, emails=query.emails, phones=phones, order_numbers=query.order_numbers
    )
    asked = any(e.strip() for e in query.emails) or phones or query.order_numbers
    if query.name.strip() and not ids and not asked:
        q = _search_statements()
        ids = _column(fetch(reader, q.by_name, {"pattern": name_pattern(query.name)}))
    return candidates(reader, ids[:MAX_RESULTS])


def matching_ids(
    reader: Reader,
    *,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    order_numbers: Sequence[str] = (),
) -> list[int]:
    """The keys of the customers with any of these emails (any case), phones (E.164) or order
    numbers (with or without the ``#``): those by email first, then by phone, then by order,
    each once. Every search of the ledger by identifier goes through here."""
    q = _search_statements()
    ids: dict[int, None] = {}
    wanted = [e.strip().lower() for e in emails if e.strip()]
    if wanted:
        ids.update(dict.fromkeys(_column(fetch(reader, q.by_email, {"emails": wanted}))))
    if phones:
        ids.update(dict.fromkeys(_column(fetch(reader, q.by_phone, {"phones": list(phones)}))))
    if order_numbers:
        names = {f"#{n.strip().lstrip('#')}" for n in order_numbers if n.strip().lstrip("#")}
        names |= {n.strip() for n in order_numbers if n.strip()}
        ids.update(dict.fromkeys(_column(fetch(reader, q.by_order_name, {"names": sorted(names)}))))
    return list(ids)


class Candidate(NamedTuple):
    """A search result: the customer, their contacts and their return counts."""

    customer: CustomerView
    open_returns: int
    lifetime_returns: int


def candidates(reader: Reader, ids: Sequence[int]) -> list[Candidate]:
    """The customers with these ids, in this order, with contacts and return counts: two
    queries however many there are."""
    if not ids:
        return []
    q = _search_statements()
    emails: dict[int, list[EmailView]] = {}
    phones: dict[int, list[PhoneView]] = {}
    for customer_id, kind, value, phone_type in fetch(reader, q.contacts, {"ids": ids}):
        if kind == "e":
            emails.setdefault(customer_id, []).append(EmailView(value))
        else:
            phones.setdefault(customer_id, []).append(PhoneView(value, phone_type))
    found = {
        row[0]: Candidate(
            CustomerView(
                row[0],
                row[1],
                row[2],
                list(row[3] or ()),
                int(row[4]),
                emails.get(row[0], []),
                phones.get(row[0], []),
            ),
            int(row[5]),
            int(row[6]),
        )
        for row in fetch(reader, q.customers, {"ids": ids})
    }
    return [found[i] for i in ids if i in found]


class EmailView(NamedTuple):
    email: str


class PhoneView(NamedTuple):
    number: str
    type: str


class CustomerView(NamedTuple):
    id: int
    public_id: str
    name: str
    tags: list[str]
    linked_systems: int
    emails: list[EmailView]
    phones: list[PhoneView]


class ReturnItemView(NamedTuple):
    order_line_id: int
    quantity: int
    outcome: str


class ReturnView(NamedTuple):
    id: int
    public_id: str
    number: str
    order_id: int
    order_name: str
    state: str
    refund_state: str
    refund_amount: int
    currency: str
    status_page_url: str
    created_at: datetime
    updated_at: datetime
    received_at: datetime | None
    items: list[ReturnItemView]


class LineView(NamedTuple):
    id: int
    public_id: str
    title: str
    variant: str
    sku: str
    quantity: int
    unit_price: int


class FulfillmentView(NamedTuple):
    tracking_number: str
    carrier: str


class OrderView(NamedTuple):
    id: int
    public_id: str
    name: str
    placed_at: datetime
    delivered_at: datetime | None
    currency: str
    lines: list[LineView]
    fulfillments: list[FulfillmentView]


@dataclass
class Profile:
    """A customer with what the detailed lookup shows: their returns and recent orders, as
    plain read-only rows (a help desk waits on this; ORM objects cost several times more)."""

    customer: CustomerView
    returns: list[ReturnView] = field(default_factory=list)
    orders: list[OrderView] = field(default_factory=list)

    @cached_property
    def open_returns(self) -> list[ReturnView]:
        return [r for r in self.returns if r.state in OPEN_STATES]  # str enums: no conversion

    @property
    def most_relevant_return(self) -> ReturnView | None:
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


def profile(reader: Reader, customer_public_id: str) -> Profile | None:
    """Three prepared Core statements (the customer with contacts, returns with items, recent
    orders with lines and fulfilments), each built once: statement building, round trips and
    ORM object loading cost more CPU here than the rows themselves."""
    q = _profile_statements()
    # The statements leave ordering to us (a few rows each; a sort in SQL cost SQLite a temp
    # B-tree per statement): contacts by position, lines by position, fulfilments by id.
    customer: CustomerView | None = None
    contacts: list[tuple[int, int, str, str, str]] = []
    for kind, customer_id, public_id, name, tags, links, value, phone_type, position, key in fetch(
        reader, q.customer, {"public_id": customer_public_id}
    ):
        if kind == "c":
            customer = CustomerView(customer_id, public_id, name, list(tags or ()), links, [], [])
        else:
            contacts.append((position, key, kind, value, phone_type))
    if customer is None:
        return None
    for _, _, kind, value, phone_type in sorted(contacts):
        if kind == "e":
            customer.emails.append(EmailView(value))
        else:
            customer.phones.append(PhoneView(value, phone_type))
    returns: list[ReturnView] = []
    for row in fetch(reader, q.returns, {"customer_id": customer.id}):
        if not returns or returns[-1].id != row[0]:
            returns.append(ReturnView._make((*row[:13], [])))
        if row[13] is not None:
            returns[-1].items.append(ReturnItemView(row[13], row[14], row[15]))
    orders: dict[int, OrderView] = {}
    details: list[tuple[str, int, int, int, list[Any]]] = []
    params = {"customer_id": customer.id, "limit": RECENT_ORDERS}
    for kind, order_id, *values, position, placed_at, delivered_at in fetch(
        reader, q.orders, params
    ):
        if kind == "c":
            orders[order_id] = OrderView(
                order_id, values[1], values[2], placed_at, delivered_at, values[4], [], []
            )
        else:
            details.append((kind, order_id, position, values[0], values))
    for kind, order_id, _, _, values in sorted(details, key=lambda d: d[1:4]):
        if kind == "l":
            orders[order_id].lines.append(LineView(*values))
        else:
            orders[order_id].fulfillments.append(FulfillmentView(values[3], values[4]))
    recent = sorted(orders.values(), key=lambda o: (o.placed_at, o.id), reverse=True)
    return Profile(customer, returns, recent)


def _text(value: str) -> Any:
    """A string constant written into the SQL (tags the rows of a UNION): as a bound
    parameter PostgreSQL could not always tell its type."""
    return literal_column(f"'{value}'", String)


def _zero() -> Any:
    return literal_column("0", Integer)


class _SearchStatements(NamedTuple):
    by_email: PreparedSelect
    by_mobile: PreparedSelect
    by_phone: PreparedSelect
    by_order_name: PreparedSelect
    by_name: PreparedSelect
    customers: PreparedSelect
    contacts: PreparedSelect


def _linked_systems() -> Any:
    return (
        select(func.count())
        .where(CustomerLink.customer_id == Customer.id)
        .correlate(Customer)
        .scalar_subquery()
    )


@cache
def _search_statements() -> _SearchStatements:
    ids: Any = bindparam("ids", expanding=True)
    phones: Any = bindparam("phones", expanding=True)

    def returns(*where: Any) -> Any:
        return (
            select(func.count())
            .where(Return.customer_id == Customer.id, *where)
            .correlate(Customer)
            .scalar_subquery()
        )

    contacts = union_all(
        select(
            CustomerEmail.customer_id.label("customer_id"),
            _text("e").label("kind"),
            CustomerEmail.email.label("value"),
            _text("").label("phone_type"),
            CustomerEmail.position.label("position"),
            CustomerEmail.id.label("id"),
        ).where(CustomerEmail.customer_id.in_(ids)),
        select(
            CustomerPhone.customer_id,
            _text("p"),
            CustomerPhone.number,
            CustomerPhone.type,
            CustomerPhone.position,
            CustomerPhone.id,
        ).where(CustomerPhone.customer_id.in_(ids)),
    ).subquery()
    return _SearchStatements(
        by_email=PreparedSelect(
            select(CustomerEmail.customer_id).where(
                CustomerEmail.email.in_(bindparam("emails", expanding=True))
            )
        ),
        by_mobile=PreparedSelect(
            select(CustomerPhone.customer_id).where(
                CustomerPhone.number.in_(phones), CustomerPhone.type == "MOBILE"
            )
        ),
        by_phone=PreparedSelect(
            select(CustomerPhone.customer_id).where(CustomerPhone.number.in_(phones))
        ),
        by_order_name=PreparedSelect(
            select(Order.customer_id).where(Order.name.in_(bindparam("names", expanding=True)))
        ),
        by_name=PreparedSelect(
            select(Customer.id)
            .where(name_like(bindparam("pattern", type_=String)))
            .order_by(Customer.id)
            .limit(MAX_RESULTS)
        ),
        customers=PreparedSelect(
            select(
                Customer.id,
                Customer.public_id,
                Customer.name,
                Customer.tags,
                _linked_systems(),
                returns(Return.state.in_([state.value for state in OPEN_STATES])),
                returns(),
            ).where(Customer.id.in_(ids))
        ),
        contacts=PreparedSelect(
            select(
                contacts.c.customer_id, contacts.c.kind, contacts.c.value, contacts.c.phone_type
            ).order_by(contacts.c.customer_id, contacts.c.kind, contacts.c.position, contacts.c.id)
        ),
    )


class _ProfileStatements(NamedTuple):
    customer: PreparedSelect
    returns: PreparedSelect
    orders: PreparedSelect


@cache
def _profile_statements() -> _ProfileStatements:
    customer_id = bindparam("customer_id", type_=Integer)
    # The customer row ("c") and its contacts ("e", "p") in one result. The contacts select
    # the customer by public id themselves: no second round trip for its key.
    key = (
        select(Customer.id)
        .where(Customer.public_id == bindparam("public_id", type_=String))
        .scalar_subquery()
    )
    nothing = null()
    people = union_all(
        select(
            _text("c").label("kind"),
            Customer.id.label("customer_id"),
            Customer.public_id.label("public_id"),
            Customer.name.label("name"),
            Customer.tags.label("tags"),
            _linked_systems().label("links"),
            _text("").label("value"),
            _text("").label("phone_type"),
            _zero().label("position"),
            _zero().label("id"),
        ).where(Customer.public_id == bindparam("public_id", type_=String)),
        select(
            _text("e"),
            CustomerEmail.customer_id,
            nothing,
            nothing,
            nothing,
            nothing,
            CustomerEmail.email,
            _text(""),
            CustomerEmail.position,
            CustomerEmail.id,
        ).where(CustomerEmail.customer_id == key),
        select(
            _text("p"),
            CustomerPhone.customer_id,
            nothing,
            nothing,
            nothing,
            nothing,
            CustomerPhone.number,
            CustomerPhone.type,
            CustomerPhone.position,
            CustomerPhone.id,
        ).where(CustomerPhone.customer_id == key),
    )
    # The recent orders ("c"), their lines ("l") and fulfilments ("f") in one result, the
    # detail rows joined to the limited set of orders (no list of ids sent back and forth).
    recent = (
        select(
            Order.id,
            Order.public_id,
            Order.name,
            Order.currency,
            Order.placed_at,
            Order.delivered_at,
        )
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .cte("recent")
    )
    no_time = null()
    orders = union_all(
        select(
            _text("c").label("kind"),
            recent.c.id.label("order_id"),
            recent.c.id.label("id"),
            recent.c.public_id.label("public_id"),
            recent.c.name.label("title"),
            _text("").label("variant"),
            recent.c.currency.label("sku"),
            _zero().label("quantity"),
            _zero().label("unit_price"),
            _zero().label("position"),
            recent.c.placed_at.label("placed_at"),
            recent.c.delivered_at.label("delivered_at"),
        ),
        select(
            _text("l"),
            OrderLine.order_id,
            OrderLine.id,
            OrderLine.public_id,
            OrderLine.title,
            OrderLine.variant,
            OrderLine.sku,
            OrderLine.quantity,
            OrderLine.unit_price,
            OrderLine.position,
            no_time,
            no_time,
        ).join(recent, recent.c.id == OrderLine.order_id),
        # Fulfilment columns ride in the line columns: variant carries tracking, sku the carrier.
        select(
            _text("f"),
            Fulfillment.order_id,
            Fulfillment.id,
            _text(""),
            _text(""),
            Fulfillment.tracking_number,
            Fulfillment.carrier,
            _zero(),
            _zero(),
            _zero(),
            no_time,
            no_time,
        ).join(recent, recent.c.id == Fulfillment.order_id),
    )
    return _ProfileStatements(
        customer=PreparedSelect(people),
        returns=PreparedSelect(
            select(
                Return.id,
                Return.public_id,
                Return.number,
                Return.order_id,
                Order.name,
                Return.state,
                Return.refund_state,
                Return.refund_amount,
                Return.currency,
                Return.status_page_url,
                Return.created_at,
                Return.updated_at,
                Return.received_at,
                ReturnItem.order_line_id,
                ReturnItem.quantity,
                ReturnItem.outcome,
            )
            .join(Order, Order.id == Return.order_id)
            .outerjoin(ReturnItem, ReturnItem.return_id == Return.id)
            .where(Return.customer_id == customer_id)
            .order_by(Return.id.desc(), ReturnItem.id)
        ),
        orders=PreparedSelect(orders),
    )
