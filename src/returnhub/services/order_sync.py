"""Applying orders, fulfilments and customer profiles that live in another system (Shopify) to
the ledger, with the same convergence rules as the returns sync (services/sync.py).

Order-safe and idempotent: every report carries the source's own ``updated_at``; one older than
what the ledger holds changes nothing (``stale``), the same one again changes nothing new, and an
update that arrives before its create creates. A stamp further ahead of this server's clock than
the allowed skew is refused, so it can never hide later updates.

Whose order it is: the ledger customer linked to the order's customer profile in the source,
else the one with the order's email, else a new customer. An order is found by (source, external
id); an order of the same name made here (through the API, or by a return synced before its
order) is taken over only when it is that same customer's and no other source's, otherwise the
event fails saying why: a name never moves an order between customers or sources.

Who owns a customer's contact details: a profile update applies to the ledger customer linked
to that profile, else to the one with its email; a profile nobody in the ledger matches is
ignored (the customer arrives with their first order). A customer found by email, or created
for an order, is auto-linked to the profile (unless they were ever unlinked, or the profile is
someone else's), so a later change of email in the source still finds them. Name and phone
follow the source when its ``updated_at`` is newer than the last one taken from it (an agent's
later edit here is replaced by the next genuine change in the source, never by an older one).
A new email becomes the customer's first, the old ones stay so earlier conversations still find
them; an email another ledger customer has is never moved: two ledger customers are never merged
by a sync, the inbox says so and a person decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from returnhub.domain.contact import normalize_phone
from returnhub.domain.convergence import Verdict, compare_stamped
from returnhub.domain.errors import InvalidInput
from returnhub.domain.events import EventType
from returnhub.domain.external import (
    ExternalCustomer,
    ExternalFulfillment,
    ExternalOrder,
    ExternalOrderLine,
)
from returnhub.domain.ids import Prefix, new_id
from returnhub.services import linking
from returnhub.services.customers import find_customer_by_email
from returnhub.services.events import record_event
from returnhub.services.orders import record_order_created
from returnhub.services.sync import (
    DEFAULT_CLOCK_SKEW,
    SourceConflict,
    customer_for,
    owned_by,
    refuse_future_stamps,
)
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    Fulfillment,
    Order,
    OrderLine,
)
from returnhub.store.types import utcnow


@dataclass(frozen=True)
class Outcome:
    """What applying a report did, in the inbox's words; ``ignored``: nothing in the ledger is
    about it, so nothing was applied."""

    detail: str
    ignored: bool = False


def _stale(what: str, stamp: datetime, held: datetime | None) -> Outcome:
    return Outcome(
        f"stale: {what} updated_at {stamp.isoformat()} is older than the ledger's "
        f"{held.isoformat() if held else 'none'}; nothing changed"
    )


def _source_order(session: Session, source: str, external_id: str) -> Order | None:
    return session.scalar(
        select(Order)
        .where(Order.source_system == source, Order.external_id == external_id)
        .options(
            selectinload(Order.lines),
            selectinload(Order.fulfillments),
            selectinload(Order.customer),
        )
        .with_for_update(of=Order)
    )


def apply_external_order(
    session: Session, ext: ExternalOrder, now: datetime, skew: timedelta = DEFAULT_CLOCK_SKEW
) -> Outcome:
    what = f"{ext.source} order {ext.name} ({ext.external_id})"
    refuse_future_stamps(
        what,
        {
            "updated_at": ext.updated_at,
            **{f"fulfillment {f.external_id} updated_at": f.updated_at for f in ext.fulfillments},
        },
        now,
        skew,
    )
    order = _source_order(session, ext.source, ext.external_id)
    if order is not None:
        if compare_stamped(order.source_updated_at, ext.updated_at) is Verdict.OLDER:
            return _stale(what, ext.updated_at, order.source_updated_at)
        changed = _refresh(session, order, ext)
        return Outcome("updated" if changed else "unchanged")
    order = _adopted(session, ext, what)
    if order is not None:
        _refresh(session, order, ext)
        return Outcome(f"updated: took over the ledger's order {order.public_id} of that name")
    buyer = ext.customer
    customer = customer_for(
        session, ext.source, buyer.external_id, buyer.email, buyer.name, buyer.phone
    )
    session.flush()
    linking.link_synced_profile(
        session, customer, ext.source, buyer.external_id, f"{ext.source} sync"
    )
    order = Order(
        public_id=new_id(Prefix.ORDER),
        customer=customer,
        name=ext.name,
        placed_at=ext.placed_at,
        delivered_at=None,
        currency=ext.currency,
        shipping_zip=ext.shipping_zip,
        source_system=ext.source,
        external_id=ext.external_id,
        lines=[],
        fulfillments=[],
    )
    session.add(order)
    _refresh(session, order, ext)
    session.flush()
    record_order_created(session, order, customer)
    return Outcome("created")


def _adopted(session: Session, ext: ExternalOrder, what: str) -> Order | None:
    """The ledger's order of the same name when it may become this source's order (made here,
    same customer), None when there is none; SourceConflict when it is someone else's."""
    order = session.scalar(
        select(Order)
        .where(Order.name == ext.name)
        .options(
            selectinload(Order.lines),
            selectinload(Order.fulfillments),
            selectinload(Order.customer).selectinload(Customer.emails),
        )
        .with_for_update(of=Order)
    )
    if order is None:
        return None
    if order.external_id is not None:
        raise SourceConflict(
            f"{what}: the ledger's order {order.public_id} has that name already and is "
            f"{order.source_system} order {order.external_id}; nothing was applied. Rename one "
            "of them at its source, then replay the job"
        )
    buyer = ext.customer
    if not owned_by(session, order.customer, ext.source, buyer.external_id, buyer.email):
        raise SourceConflict(
            f"{what}: the ledger's order {order.public_id} has that name already and belongs "
            f"to customer {order.customer.public_id}, not to {buyer.email} ({ext.source} "
            f"profile {buyer.external_id or 'none'}); nothing was applied. If they are the same "
            f"person, link that profile to {order.customer.public_id} "
            f"(POST /api/v1/customers/{order.customer.public_id}/links) and replay the job"
        )
    order.source_system = ext.source
    order.external_id = ext.external_id
    return order


def _refresh(session: Session, order: Order, ext: ExternalOrder) -> bool:
    """Take the source's report of the order (not older than the ledger's); whether anything
    changed."""
    changed = False
    for attr, value in (
        ("placed_at", ext.placed_at),
        ("currency", ext.currency),
        ("shipping_zip", ext.shipping_zip),
        ("cancelled_at", ext.cancelled_at),
    ):
        if getattr(order, attr) != value:
            setattr(order, attr, value)
            changed = True
    order.source_updated_at = ext.updated_at
    for line in ext.lines:
        changed = _take_line(order, line) or changed
    for fulfillment in ext.fulfillments:
        changed = _take_fulfillment(order, fulfillment) is not None or changed
    return _deliver(order) or changed


def _take_line(order: Order, ext: ExternalOrderLine) -> bool:
    """Lines are matched by their id in the source, else (an order taken over) by SKU among
    lines that have none; a line the source no longer lists stays, as returns may name it."""
    line = next((x for x in order.lines if x.external_id == ext.external_id), None) or next(
        (x for x in order.lines if x.external_id is None and x.sku == ext.sku), None
    )
    if line is None:
        order.lines.append(
            OrderLine(
                public_id=new_id(Prefix.ORDER_LINE),
                position=len(order.lines),
                external_id=ext.external_id,
                sku=ext.sku,
                title=ext.title,
                variant=ext.variant,
                quantity=ext.quantity,
                unit_price=ext.unit_price,
                final_sale=False,
            )
        )
        return True
    changed = False
    for attr, value in (
        ("external_id", ext.external_id),
        ("sku", ext.sku),
        ("title", ext.title),
        ("variant", ext.variant),
        ("quantity", ext.quantity),
        ("unit_price", ext.unit_price),
    ):
        if getattr(line, attr) != value:
            setattr(line, attr, value)
            changed = True
    return changed


def _take_fulfillment(order: Order, ext: ExternalFulfillment) -> str | None:
    """Apply one fulfilment report; what it did ("created", "updated", "stale"), or None when
    it changed nothing."""
    held = next((f for f in order.fulfillments if f.external_id == ext.external_id), None)
    if held is None:
        order.fulfillments.append(
            Fulfillment(
                external_id=ext.external_id,
                carrier=ext.carrier,
                tracking_number=ext.tracking_number,
                status=ext.status,
                shipped_at=ext.shipped_at,
                delivered_at=ext.delivered_at,
                source_updated_at=ext.updated_at,
            )
        )
        return "created"
    if compare_stamped(held.source_updated_at, ext.updated_at) is Verdict.OLDER:
        return None
    delivered = (held.delivered_at or ext.delivered_at) if ext.status == "delivered" else None
    changed = False
    for attr, value in (
        ("carrier", ext.carrier or held.carrier),
        ("tracking_number", ext.tracking_number or held.tracking_number),
        ("status", ext.status),
        ("shipped_at", ext.shipped_at or held.shipped_at),
        ("delivered_at", delivered),
    ):
        if getattr(held, attr) != value:
            setattr(held, attr, value)
            changed = True
    held.source_updated_at = ext.updated_at
    return "updated" if changed else None


def _deliver(order: Order) -> bool:
    """The order is delivered when its last delivered fulfilment was (the return window counts
    from then); an order none of whose fulfilments is delivered keeps what it had."""
    times = [f.delivered_at for f in order.fulfillments if f.delivered_at is not None]
    if not times or order.delivered_at == max(times):
        return False
    order.delivered_at = max(times)
    return True


def apply_external_fulfillment(
    session: Session, ext: ExternalFulfillment, now: datetime, skew: timedelta = DEFAULT_CLOCK_SKEW
) -> Outcome:
    what = f"{ext.source} fulfillment {ext.external_id}"
    refuse_future_stamps(what, {"updated_at": ext.updated_at}, now, skew)
    order = _source_order(session, ext.source, ext.order_external_id)
    if order is None:
        return Outcome(
            f"{ext.source} order {ext.order_external_id} is not in the ledger yet; its "
            "orders/updated event carries this fulfillment too",
            ignored=True,
        )
    held = next((f for f in order.fulfillments if f.external_id == ext.external_id), None)
    if held is not None and compare_stamped(held.source_updated_at, ext.updated_at) is (
        Verdict.OLDER
    ):
        return _stale(what, ext.updated_at, held.source_updated_at)
    done = _take_fulfillment(order, ext)
    _deliver(order)
    return Outcome(done or "unchanged")


def apply_external_customer(
    session: Session, ext: ExternalCustomer, now: datetime, skew: timedelta = DEFAULT_CLOCK_SKEW
) -> Outcome:
    what = f"{ext.source} customer {ext.external_id}"
    if ext.updated_at is None:
        raise SourceConflict(f"{what}: a profile update without updated_at cannot be ordered")
    refuse_future_stamps(what, {"updated_at": ext.updated_at}, now, skew)
    customer = linking.holder(session, ext.source, ext.external_id)
    if customer is None and ext.email:
        customer = find_customer_by_email(session, ext.email)
        if customer is not None:
            linking.link_synced_profile(
                session, customer, ext.source, ext.external_id, f"{ext.source} sync"
            )
    if customer is None:
        return Outcome(
            f"no ledger customer is linked to {what} or has its email: nothing to update "
            "(the customer enters the ledger with their first order)",
            ignored=True,
        )
    held = customer.shopify_updated_at
    if compare_stamped(held, ext.updated_at) is Verdict.OLDER:
        return _stale(what, ext.updated_at, held)
    changed, notes = _take_contact(session, customer, ext)
    customer.shopify_updated_at = ext.updated_at
    if changed:
        # Contacts live in child tables, so touch the row ourselves.
        customer.updated_at = utcnow()
        session.flush()
        record_event(session, EventType.CUSTOMER_UPDATED, customer.public_id, {"changed": changed})
    detail = f"updated {customer.public_id}: {', '.join(changed)}" if changed else "unchanged"
    return Outcome("; ".join([detail, *notes]))


def _take_contact(
    session: Session, customer: Customer, ext: ExternalCustomer
) -> tuple[list[str], list[str]]:
    """The profile's name, email and phone onto the customer: what changed, and what was not
    taken and why."""
    changed: list[str] = []
    notes: list[str] = []
    if ext.name and ext.name != customer.name:
        customer.name = ext.name
        customer.name_search = ext.name.lower()
        changed.append("name")
    emails = [e.email for e in customer.emails]
    if ext.email and (not emails or emails[0] != ext.email):
        owner = find_customer_by_email(session, ext.email) if ext.email not in emails else None
        if owner is not None and owner.id != customer.id:
            notes.append(
                f"email {ext.email} not taken: it is customer {owner.public_id}'s; a sync "
                f"never merges two customers (merge or correct them by hand)"
            )
        else:
            held_email = next((e for e in customer.emails if e.email == ext.email), None)
            _put_first(customer.emails, held_email or CustomerEmail(email=ext.email))
            changed.append("emails")
    if ext.phone:
        try:
            number = normalize_phone(ext.phone)
        except InvalidInput:
            notes.append(f"phone {ext.phone!r} not taken: it is not a phone number")
        else:
            phones = [p.number for p in customer.phones]
            if not phones or phones[0] != number:
                held_phone = next((p for p in customer.phones if p.number == number), None)
                _put_first(
                    customer.phones, held_phone or CustomerPhone(number=number, type="MOBILE")
                )
                changed.append("phones")
    return changed, notes


def _put_first(rows: list[Any], row: Any) -> None:
    """Make ``row`` (one of a customer's emails or phones) the first of them."""
    if row not in rows:
        rows.append(row)
    row.position = 0
    for position, other in enumerate((r for r in rows if r is not row), start=1):
        other.position = position
