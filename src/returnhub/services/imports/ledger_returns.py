"""Storing a chunk of imported returns: each completed from its ledger order (prices, titles,
currency, customer) and applied as a returns sync applies a source's return (services/sync.py),
so a second import of the same return changes nothing and a newer one moves it forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from returnhub.connectors.errors import MappingError
from returnhub.domain.external import ExternalItem, ExternalReturn
from returnhub.domain.imported import Counts, ImportedReturn, Problem
from returnhub.domain.money import minor_units
from returnhub.services.sync import SyncResult, apply_external_return
from returnhub.store.tables import Customer, Order

RESULT_COUNTS = {
    SyncResult.CREATED: "created",
    SyncResult.UPDATED: "updated",
    SyncResult.UNCHANGED: "skipped",
    SyncResult.STALE: "skipped",
    SyncResult.UNDECIDED: "skipped",
}


def _external(ret: ImportedReturn, order: Order) -> ExternalReturn | Problem:
    """The return as the sync takes it, or the problem that stops it."""
    if not order.customer.emails:
        return Problem(
            ret.row,
            "order_name",
            f"order {order.name}'s customer has no email in the ledger; add one, then import "
            "the return again",
        )
    by_sku = {line.sku: line for line in order.lines}
    items: list[ExternalItem] = []
    for item in ret.items:
        line = by_sku.get(item.sku)
        if line is None:
            return Problem(item.row, "sku", f"order {order.name} has no line with SKU {item.sku}")
        if item.quantity > line.quantity:
            return Problem(
                item.row,
                "quantity",
                f"returns {item.quantity} of {item.sku}, but order {order.name} has "
                f"{line.quantity}",
            )
        # The sync counts units: one item per returned unit.
        items.extend(
            ExternalItem(
                sku=item.sku,
                title=line.title,
                unit_price=line.unit_price,
                variant=line.variant,
                reason=item.reason,
                comment=item.comment,
                outcome=item.outcome,
            )
            for _ in range(item.quantity)
        )
    refund: int | None = None
    if ret.refund_amount:
        try:
            refund = minor_units(ret.refund_amount, order.currency)
        except ValueError:
            return Problem(
                ret.row,
                "refund_amount",
                f"refund_amount {ret.refund_amount!r} has more decimals than {order.currency} has",
            )
    return ExternalReturn(
        source=ret.source,
        external_id=ret.external_id,
        state=ret.state,
        updated_at=ret.updated_at,
        created_at=ret.created_at,
        order_name=order.name,
        customer_email=order.customer.emails[0].email,
        currency=order.currency,
        items=tuple(items),
        label_carrier=ret.label_carrier,
        label_tracking_number=ret.label_tracking_number,
        refund_amount=refund,
        shipping_zip=order.shipping_zip,
    )


def store_returns(
    session: Session,
    chunk: Sequence[ImportedReturn],
    synced: Sequence[ExternalReturn],
    now: datetime,
) -> tuple[Counts, list[Problem]]:
    """Store ``chunk`` (completed from their ledger orders first) and ``synced``."""
    counts = Counts()
    problems: list[Problem] = []
    found: dict[str, Order] = {}
    if chunk:
        found = {
            order.name: order
            for order in session.scalars(
                select(Order)
                .where(Order.name.in_({r.order_name for r in chunk}))
                .options(
                    selectinload(Order.lines),
                    selectinload(Order.customer).selectinload(Customer.emails),
                )
            )
        }
    ready: list[tuple[int, ExternalReturn]] = []
    for ret in chunk:
        order = found.get(ret.order_name)
        external = (
            _external(ret, order)
            if order is not None
            else Problem(
                ret.row,
                "order_name",
                f"order {ret.order_name} is not in the ledger; put it in the orders file",
            )
        )
        if isinstance(external, Problem):
            problems.append(external)
            counts.invalid += 1
        else:
            ready.append((ret.row, external))
    for row, external in [*ready, *((0, ext) for ext in synced)]:
        try:
            with session.begin_nested():
                result = apply_external_return(session, external, now)
        except MappingError as exc:
            problems.append(Problem(row, "", str(exc)))
            counts.invalid += 1
            continue
        setattr(counts, RESULT_COUNTS[result], getattr(counts, RESULT_COUNTS[result]) + 1)
    return counts, problems
