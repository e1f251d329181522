"""Response shapes of the REST API and the functions that fill them from stored rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from returnhub.domain.lifecycle import ReturnState, allowed_actions
from returnhub.domain.policy import LineEligibility
from returnhub.store.tables import (
    AllowlistEntry,
    Customer,
    Order,
    Return,
    ReturnNote,
)


class ErrorItem(BaseModel):
    field: str
    code: str
    message: str


class ErrorResponse(BaseModel):
    errors: list[ErrorItem]


class GladlyErrorItem(BaseModel):
    # The field or header at fault; left out when none is (a 401, a 503).
    attr: str | None = None
    code: str
    detail: str


class GladlyErrorResponse(BaseModel):
    """Gladly's error shape, used by the routes Gladly calls."""

    errors: list[GladlyErrorItem]


class PhoneOut(BaseModel):
    number: str
    type: str


class CustomerOut(BaseModel):
    id: str
    name: str
    emails: list[str]
    phones: list[PhoneOut]
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class CustomerList(BaseModel):
    data: list[CustomerOut]


class OrderLineOut(BaseModel):
    id: str
    sku: str
    title: str
    variant: str
    quantity: int
    unit_price: int
    final_sale: bool


class FulfillmentOut(BaseModel):
    carrier: str
    tracking_number: str
    shipped_at: datetime | None


class OrderOut(BaseModel):
    id: str
    name: str
    customer_id: str
    placed_at: datetime
    delivered_at: datetime | None
    currency: str
    shipping_zip: str
    total: int
    lines: list[OrderLineOut]
    fulfillments: list[FulfillmentOut]


class Page(BaseModel):
    next_cursor: str | None


class OrderList(Page):
    data: list[OrderOut]


class ReturnItemOut(BaseModel):
    id: str
    order_line_id: str
    sku: str
    title: str
    variant: str
    quantity: int
    unit_price: int
    outcome: str
    reason: str
    parent_reason: str
    comment: str
    expected_condition: str


class ExchangeItemOut(BaseModel):
    sku: str
    title: str
    variant: str
    quantity: int


class RefundOut(BaseModel):
    amount: int
    currency: str
    method: str
    state: str
    issued_at: datetime | None


class LabelOut(BaseModel):
    carrier: str
    tracking_number: str
    status: str


class NoteOut(BaseModel):
    id: str
    body: str
    author: str
    created_at: datetime


class TimelineOut(BaseModel):
    kind: str
    from_state: str | None
    to_state: str | None
    message: str
    actor: str
    created_at: datetime


class ReturnOut(BaseModel):
    id: str
    number: str
    order_id: str
    order_name: str
    customer_id: str
    state: ReturnState
    allowed_actions: list[str]
    items: list[ReturnItemOut]
    exchange_items: list[ExchangeItemOut]
    refund: RefundOut
    label: LabelOut
    status_page_url: str
    source_system: str
    external_id: str | None
    received_at: datetime | None
    created_at: datetime
    updated_at: datetime
    notes: list[NoteOut] | None = None
    timeline: list[TimelineOut] | None = None


class ReturnList(Page):
    data: list[ReturnOut]


class OutcomeEligibilityOut(BaseModel):
    eligible: bool
    window_ends_at: datetime | None
    reasons: list[dict[str, str]]


class LineEligibilityOut(BaseModel):
    order_line_id: str
    sku: str
    title: str
    quantity: int
    returned_quantity: int
    returnable_quantity: int
    eligible: bool
    outcomes: dict[str, OutcomeEligibilityOut]


class EligibilityOut(BaseModel):
    order_id: str
    order_name: str
    evaluated_at: datetime
    eligible: bool
    lines: list[LineEligibilityOut]


class AllowlistOut(BaseModel):
    id: str
    kind: str
    value: str
    reason: str
    created_by: str
    created_at: datetime


class AllowlistList(BaseModel):
    data: list[AllowlistOut]


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(
        id=c.public_id,
        name=c.name,
        emails=[e.email for e in c.emails],
        phones=[PhoneOut(number=p.number, type=p.type) for p in c.phones],
        tags=list(c.tags),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def order_out(o: Order) -> OrderOut:
    return OrderOut(
        id=o.public_id,
        name=o.name,
        customer_id=o.customer.public_id,
        placed_at=o.placed_at,
        delivered_at=o.delivered_at,
        currency=o.currency,
        shipping_zip=o.shipping_zip,
        total=sum(line.unit_price * line.quantity for line in o.lines),
        lines=[
            OrderLineOut(
                id=line.public_id,
                sku=line.sku,
                title=line.title,
                variant=line.variant,
                quantity=line.quantity,
                unit_price=line.unit_price,
                final_sale=line.final_sale,
            )
            for line in o.lines
        ],
        fulfillments=[
            FulfillmentOut(
                carrier=f.carrier, tracking_number=f.tracking_number, shipped_at=f.shipped_at
            )
            for f in o.fulfillments
        ],
    )


def note_out(n: ReturnNote) -> NoteOut:
    return NoteOut(id=n.public_id, body=n.body, author=n.author, created_at=n.created_at)


def return_out(r: Return, *, detail: bool = False) -> ReturnOut:
    state = ReturnState(r.state)
    out = ReturnOut(
        id=r.public_id,
        number=r.number,
        order_id=r.order.public_id,
        order_name=r.order.name,
        customer_id=r.customer.public_id,
        state=state,
        allowed_actions=allowed_actions(state),
        items=[
            ReturnItemOut(
                id=i.public_id,
                order_line_id=i.order_line.public_id,
                sku=i.order_line.sku,
                title=i.order_line.title,
                variant=i.order_line.variant,
                quantity=i.quantity,
                unit_price=i.order_line.unit_price,
                outcome=i.outcome,
                reason=i.reason,
                parent_reason=i.parent_reason,
                comment=i.comment,
                expected_condition=i.expected_condition,
            )
            for i in r.items
        ],
        exchange_items=[
            ExchangeItemOut(sku=x.sku, title=x.title, variant=x.variant, quantity=x.quantity)
            for x in r.exchange_items
        ],
        refund=RefundOut(
            amount=r.refund_amount,
            currency=r.currency,
            method=r.refund_method,
            state=r.refund_state,
            issued_at=r.refund_issued_at,
        ),
        label=LabelOut(
            carrier=r.label_carrier, tracking_number=r.label_tracking_number, status=r.label_status
        ),
        status_page_url=r.status_page_url,
        source_system=r.source_system,
        external_id=r.external_id,
        received_at=r.received_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )
    if detail:
        out.notes = [note_out(n) for n in r.notes]
        out.timeline = [
            TimelineOut(
                kind=t.kind,
                from_state=t.from_state,
                to_state=t.to_state,
                message=t.message,
                actor=t.actor,
                created_at=t.created_at,
            )
            for t in r.timeline
        ]
    return out


def eligibility_out(order: Order, lines: list[LineEligibility], now: datetime) -> EligibilityOut:
    by_id = {line.public_id: line for line in order.lines}
    return EligibilityOut(
        order_id=order.public_id,
        order_name=order.name,
        evaluated_at=now,
        eligible=any(line.eligible for line in lines),
        lines=[
            LineEligibilityOut(
                order_line_id=e.line_id,
                sku=by_id[e.line_id].sku,
                title=by_id[e.line_id].title,
                quantity=e.quantity,
                returned_quantity=e.returned_quantity,
                returnable_quantity=e.returnable_quantity,
                eligible=e.eligible,
                outcomes={
                    outcome.value: OutcomeEligibilityOut(
                        eligible=verdict.eligible,
                        window_ends_at=verdict.window_ends_at,
                        reasons=[
                            {"code": r.code.value, "message": r.message} for r in verdict.reasons
                        ],
                    )
                    for outcome, verdict in e.outcomes.items()
                },
            )
            for e in lines
        ],
    )


def allowlist_out(a: AllowlistEntry) -> AllowlistOut:
    return AllowlistOut(
        id=a.public_id,
        kind=a.kind,
        value=a.value,
        reason=a.reason,
        created_by=a.created_by,
        created_at=a.created_at,
    )


def error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"errors": errors}
