"""Storing a chunk of imported orders with their customers: a handful of bulk statements per
chunk (executemany, batched into multi-row INSERTs by SQLAlchemy), not a round trip per row.

Matching, so the same history imported twice duplicates nothing: a customer is the ledger's
customer with that email (kept as it is), else a new one; an order is the ledger's order of that
name. An order already in the ledger keeps its lines, customer and dates, and gains only what the
import knows and the ledger does not: a delivered date where it has none, and fulfilments (by
carrier and tracking number) it lacks. That counts as updated; an order with nothing to gain is
skipped. Imported history records no domain events: it is the past, not news for subscribers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from returnhub.domain.ids import Prefix, new_ids
from returnhub.domain.imported import Counts, ImportedCustomer, ImportedOrder
from returnhub.store.dialects import upsert
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    Fulfillment,
    Order,
    OrderLine,
)

customers: Table = Customer.__table__  # type: ignore[assignment]
emails: Table = CustomerEmail.__table__  # type: ignore[assignment]
phones: Table = CustomerPhone.__table__  # type: ignore[assignment]
orders: Table = Order.__table__  # type: ignore[assignment]
lines: Table = OrderLine.__table__  # type: ignore[assignment]
fulfillments: Table = Fulfillment.__table__  # type: ignore[assignment]


def _customer_ids(
    connection: Connection, chunk: Sequence[ImportedCustomer], now: datetime
) -> tuple[dict[str, int], int]:
    """The ledger customer of every email in the chunk, creating those not there yet (the
    first record of an email names them); and how many were created."""
    first: dict[str, ImportedCustomer] = {}
    for customer in chunk:
        first.setdefault(customer.email, customer)
    found = dict(
        connection.execute(
            select(emails.c.email, emails.c.customer_id).where(emails.c.email.in_(list(first)))
        ).all()
    )
    new = [customer for email, customer in first.items() if email not in found]
    if not new:
        return found, 0
    public_ids = new_ids(Prefix.CUSTOMER, len(new))
    connection.execute(
        customers.insert(),
        [
            {
                "public_id": public_id,
                "name": c.name or c.email.split("@")[0],
                "name_search": (c.name or c.email.split("@")[0]).lower(),
                "tags": [],
                "ever_unlinked": False,
                "created_at": now,
                "updated_at": now,
            }
            for public_id, c in zip(public_ids, new, strict=True)
        ],
    )
    # Read back rather than RETURNING: SQLite's driver would insert one row per statement to
    # return the keys in order.
    key_of = dict(
        connection.execute(
            select(customers.c.public_id, customers.c.id).where(
                customers.c.public_id.in_(public_ids)
            )
        ).all()
    )
    ids = [key_of[public_id] for public_id in public_ids]
    # An email another writer gave a customer since we looked (PostgreSQL: imports run beside
    # the API) stays theirs: our new customer for it is removed again.
    dialect = connection.dialect.name
    taken = set(
        connection.execute(
            upsert(dialect, emails)
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(emails.c.email),
            [
                {"customer_id": cid, "email": c.email, "position": 0}
                for cid, c in zip(ids, new, strict=True)
            ],
        ).scalars()
    )
    lost = [cid for cid, c in zip(ids, new, strict=True) if c.email not in taken]
    if lost:
        connection.execute(delete(customers).where(customers.c.id.in_(lost)))
        found.update(
            connection.execute(
                select(emails.c.email, emails.c.customer_id).where(
                    emails.c.email.in_([c.email for c in new if c.email not in taken])
                )
            ).all()
        )
    kept = [(cid, c) for cid, c in zip(ids, new, strict=True) if c.email in taken]
    found.update((c.email, cid) for cid, c in kept)
    with_phone = [
        {"customer_id": cid, "number": c.phone, "type": "MOBILE", "position": 0}
        for cid, c in kept
        if c.phone
    ]
    if with_phone:
        connection.execute(phones.insert(), with_phone)
    return found, len(kept)


def store_customers(
    connection: Connection, chunk: Sequence[ImportedCustomer], now: datetime
) -> Counts:
    """Customers without their orders (a platform's customer list): new emails become
    customers; a customer already in the ledger is left as it is."""
    if not chunk:
        return Counts()
    _, created = _customer_ids(connection, chunk, now)
    return Counts(created=created, skipped=len(chunk) - created)


def store_orders(connection: Connection, chunk: Sequence[ImportedOrder], now: datetime) -> Counts:
    """Store ``chunk`` (order names unique within it) in the caller's transaction."""
    counts = Counts()
    if not chunk:
        return counts
    owners, _ = _customer_ids(connection, [o.customer for o in chunk], now)
    dialect = connection.dialect.name
    order_ids = iter(new_ids(Prefix.ORDER, len(chunk)))
    created = dict(
        connection.execute(
            upsert(dialect, orders)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(orders.c.name, orders.c.id),
            [
                {
                    "public_id": next(order_ids),
                    "customer_id": owners[o.customer.email],
                    "name": o.name,
                    "placed_at": o.placed_at,
                    "delivered_at": o.delivered_at,
                    "currency": o.currency,
                    "shipping_zip": o.shipping_zip,
                    "created_at": now,
                }
                for o in chunk
            ],
        ).all()
    )
    line_ids = iter(new_ids(Prefix.ORDER_LINE, sum(len(o.lines) for o in chunk)))
    new_lines = [
        {
            "public_id": next(line_ids),
            "order_id": created[o.name],
            "position": position,
            "sku": line.sku,
            "title": line.title,
            "variant": line.variant,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "final_sale": line.final_sale,
        }
        for o in chunk
        if o.name in created
        for position, line in enumerate(o.lines)
    ]
    if new_lines:
        connection.execute(lines.insert(), new_lines)
    new_fulfillments = [
        {
            "order_id": created[o.name],
            "carrier": f.carrier,
            "tracking_number": f.tracking_number,
            "shipped_at": f.shipped_at,
        }
        for o in chunk
        if o.name in created
        for f in o.fulfillments
    ]
    existing = [o for o in chunk if o.name not in created]
    counts.created = len(created)
    if existing:
        counts.updated, more = _complete_existing(connection, existing)
        new_fulfillments.extend(more)
        counts.skipped = len(existing) - counts.updated
    if new_fulfillments:
        connection.execute(fulfillments.insert(), new_fulfillments)
    return counts


def _complete_existing(
    connection: Connection, chunk: Sequence[ImportedOrder]
) -> tuple[int, list[dict[str, object]]]:
    """Orders already in the ledger: their missing delivered dates are set here; returns how
    many gained anything and the fulfilments they lack."""
    stored = {
        name: (order_id, delivered_at)
        for name, order_id, delivered_at in connection.execute(
            select(orders.c.name, orders.c.id, orders.c.delivered_at).where(
                orders.c.name.in_([o.name for o in chunk])
            )
        )
    }
    shipped = {
        (order_id, carrier, tracking)
        for order_id, carrier, tracking in connection.execute(
            select(
                fulfillments.c.order_id, fulfillments.c.carrier, fulfillments.c.tracking_number
            ).where(fulfillments.c.order_id.in_([order_id for order_id, _ in stored.values()]))
        )
    }
    delivered: list[dict[str, object]] = []
    more: list[dict[str, object]] = []
    gained = 0
    for order in chunk:
        order_id, delivered_at = stored[order.name]
        missing = [
            f for f in order.fulfillments if (order_id, f.carrier, f.tracking_number) not in shipped
        ]
        more.extend(
            {
                "order_id": order_id,
                "carrier": f.carrier,
                "tracking_number": f.tracking_number,
                "shipped_at": f.shipped_at,
            }
            for f in missing
        )
        fills_date = delivered_at is None and order.delivered_at is not None
        if fills_date:
            delivered.append({"key": order_id, "value": order.delivered_at})
        gained += bool(missing or fills_date)
    if delivered:
        connection.execute(
            update(orders)
            .where(orders.c.id == bindparam("key"))
            .values(delivered_at=bindparam("value")),
            delivered,
        )
    return gained, more
