"""Orders: create or import (with their customer), fetch, list by customer, eligibility."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from returnhub.domain.errors import Conflict, FieldError
from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.lifecycle import VOID_STATES
from returnhub.domain.policy import LineEligibility, LineFacts, OrderFacts, Policy, evaluate_order
from returnhub.services import allowlist, customers, lookup
from returnhub.services.commands import OrderCreate
from returnhub.services.events import record_event
from returnhub.services.lookup import not_found
from returnhub.store.tables import (
    AllowlistEntry,
    Customer,
    Fulfillment,
    Order,
    OrderLine,
    Return,
    ReturnItem,
)


def create_order(session: Session, data: OrderCreate, phone_region: str = "US") -> Order:
    if session.scalar(select(Order.id).where(Order.name == data.name)) is not None:
        raise Conflict(
            f"order {data.name} exists",
            [FieldError("name", "duplicate", f"an order named {data.name!r} already exists")],
        )
    customer: Customer
    if data.customer_id is not None:
        customer = lookup.get_customer(session, data.customer_id)
    else:
        assert data.customer is not None
        existing = None
        if data.customer.emails:
            existing = customers.find_customer_by_email(session, data.customer.emails[0])
        customer = existing or customers.create_customer(
            session, data.customer, phone_region, prefix="customer"
        )
    order = Order(
        public_id=new_id(Prefix.ORDER),
        customer=customer,
        name=data.name,
        placed_at=data.placed_at,
        delivered_at=data.delivered_at,
        currency=data.currency,
        shipping_zip=data.shipping_zip,
        lines=[
            OrderLine(
                public_id=new_id(Prefix.ORDER_LINE),
                position=i,
                sku=line.sku,
                title=line.title,
                variant=line.variant,
                quantity=line.quantity,
                unit_price=line.unit_price,
                final_sale=line.final_sale,
            )
            for i, line in enumerate(data.lines)
        ],
        fulfillments=[
            Fulfillment(
                carrier=f.carrier, tracking_number=f.tracking_number, shipped_at=f.shipped_at
            )
            for f in data.fulfillments
        ],
    )
    session.add(order)
    session.flush()
    record_order_created(session, order, customer)
    return order


def record_order_created(session: Session, order: Order, customer: Customer) -> None:
    """The ``order.created`` event, whoever made the order (the API, a source's sync)."""
    record_event(
        session,
        EventType.ORDER_CREATED,
        order.public_id,
        {"name": order.name, "customer_id": customer.public_id},
    )


def get_order(session: Session, public_id: str, field: str = "order_id") -> Order:
    order = session.scalar(
        select(Order)
        .where(Order.public_id == public_id)
        .options(
            selectinload(Order.lines),
            selectinload(Order.fulfillments),
        )
    )
    if order is None:
        raise not_found(field, "order", public_id)
    return order


def list_orders(
    session: Session, customer_public_id: str, limit: int = 50, after: int | None = None
) -> list[Order]:
    customer = lookup.get_customer(session, customer_public_id)
    query = (
        select(Order)
        .where(Order.customer_id == customer.id)
        .options(selectinload(Order.lines), selectinload(Order.fulfillments))
        .order_by(Order.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(Order.id < after)
    return list(session.scalars(query))


def returned_quantities(
    session: Session, order: Order, exclude_return_id: int | None = None
) -> dict[int, int]:
    """Quantity per order line already on returns of this order that still count."""
    query = (
        select(ReturnItem.order_line_id, func.sum(ReturnItem.quantity))
        .join(Return, Return.id == ReturnItem.return_id)
        .where(Return.order_id == order.id, Return.state.not_in([s.value for s in VOID_STATES]))
        .group_by(ReturnItem.order_line_id)
    )
    if exclude_return_id is not None:
        query = query.where(Return.id != exclude_return_id)
    return {line_id: int(qty) for line_id, qty in session.execute(query).all()}


def order_facts(
    session: Session, order: Order, allowlisted: list[AllowlistEntry] | None = None
) -> OrderFacts:
    """What the policy needs to know about an order, read in one place for checks and answers.

    ``allowlisted``: the customer's allowlist entries (``allowlist.customer_entries``) when the
    caller has read them already, so the allowlist costs no query of its own.
    """
    returned = returned_quantities(session, order)
    reason = (
        allowlist.reason_for_order(session, order)
        if allowlisted is None
        else allowlist.reason_among(allowlisted, order)
    )
    return OrderFacts(
        delivered_at=order.delivered_at,
        lines=[
            LineFacts(
                line_id=line.public_id,
                quantity=line.quantity,
                final_sale=line.final_sale,
                returned_quantity=returned.get(line.id, 0),
            )
            for line in order.lines
        ],
        allowlist_reason=reason,
    )


def eligibility(
    session: Session, public_id: str, policy: Policy, now: datetime
) -> tuple[Order, list[LineEligibility]]:
    order = get_order(session, public_id)
    return order, evaluate_order(order_facts(session, order), policy, now)
