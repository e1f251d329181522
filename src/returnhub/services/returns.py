"""Returns: create with the eligibility check, move through the lifecycle, notes and refunds.

Every change writes a timeline entry and a domain event in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from returnhub.domain.errors import Conflict, FieldError, InvalidInput
from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id, new_return_number
from returnhub.domain.lifecycle import VOID_STATES, ReturnAction, ReturnState, next_state
from returnhub.domain.policy import Outcome, Policy, RequestedItem, check_request
from returnhub.services import orders
from returnhub.services.commands import ActionIn, NoteIn, RefundIn, ReturnCreate
from returnhub.services.events import record_event, record_timeline
from returnhub.services.lookup import internal_id, not_found
from returnhub.store.tables import (
    Customer,
    ExchangeItem,
    Order,
    Return,
    ReturnItem,
    ReturnNote,
)

REFUND_METHOD_BY_OUTCOME = {
    Outcome.REFUND: "original_payment",
    Outcome.STORE_CREDIT: "store_credit",
    Outcome.GIFT_CARD: "gift_card",
}
# The refund can be recorded once the goods are back (or a person decided without them).
REFUNDABLE_STATES = frozenset(
    {ReturnState.RECEIVED, ReturnState.FLAGGED, ReturnState.PROCESSED, ReturnState.CLOSED}
)


class RefundState:
    NONE = "none"
    PENDING = "pending"
    ISSUED = "issued"
    VOID = "void"


# What a return's API shape needs in a list; the detail view adds notes and the timeline.
SUMMARY_LOADS = (
    selectinload(Return.items).selectinload(ReturnItem.order_line),
    selectinload(Return.exchange_items),
    selectinload(Return.order),
    selectinload(Return.customer),
)


def get_return(session: Session, public_id: str, *, for_update: bool = False) -> Return:
    query = select(Return).where(Return.public_id == public_id)
    if for_update:
        query = query.with_for_update()
    query = query.options(*SUMMARY_LOADS, selectinload(Return.notes), selectinload(Return.timeline))
    ret = session.scalar(query)
    if ret is None:
        raise not_found("return_id", "return", public_id)
    return ret


def summary(ret: Return) -> dict[str, object]:
    return {
        "return_id": ret.public_id,
        "number": ret.number,
        "order_id": ret.order.public_id,
        "customer_id": ret.customer.public_id,
        "state": ret.state,
        "source_system": ret.source_system,
    }


def create_return(
    session: Session, data: ReturnCreate, policy: Policy, now: datetime, actor: str
) -> Return:
    # Lock the order row so two concurrent returns cannot both claim its last unit
    # (PostgreSQL; SQLite already serialises writers with BEGIN IMMEDIATE).
    order = session.scalar(select(Order).where(Order.public_id == data.order_id).with_for_update())
    if order is None:
        raise not_found("order_id", "order", data.order_id)
    if data.external_id is not None:
        clash = session.scalar(
            select(Return.public_id).where(
                Return.source_system == data.source_system, Return.external_id == data.external_id
            )
        )
        if clash is not None:
            raise Conflict(
                "duplicate external id",
                [
                    FieldError(
                        "external_id",
                        "duplicate",
                        f"{data.source_system} return {data.external_id} is already {clash}",
                        {"return_id": clash},
                    )
                ],
            )
    facts = orders.order_facts(session, order)
    errors = check_request(
        facts,
        policy,
        now,
        [RequestedItem(i.order_line_id, i.quantity, i.outcome) for i in data.items],
    )
    if errors:
        raise InvalidInput("the return is not allowed", errors)

    lines = {line.public_id: line for line in order.lines}
    refund_amount = sum(
        lines[i.order_line_id].unit_price * i.quantity
        for i in data.items
        if i.outcome is not Outcome.EXCHANGE
    )
    method = data.refund_method or next(
        (
            REFUND_METHOD_BY_OUTCOME[i.outcome]
            for i in data.items
            if i.outcome in REFUND_METHOD_BY_OUTCOME
        ),
        "",
    )
    label = data.label
    ret = Return(
        public_id=new_id(Prefix.RETURN),
        number=new_return_number(),
        order=order,
        customer_id=order.customer_id,
        state=ReturnState.REQUESTED.value,
        currency=order.currency,
        refund_amount=refund_amount,
        refund_method=method,
        refund_state=RefundState.PENDING if refund_amount > 0 else RefundState.NONE,
        label_carrier=label.carrier if label else "",
        label_tracking_number=label.tracking_number if label else "",
        label_status=label.status if label else "",
        status_page_url=data.status_page_url,
        source_system=data.source_system,
        external_id=data.external_id,
        items=[
            ReturnItem(
                public_id=new_id(Prefix.RETURN_ITEM),
                order_line=lines[i.order_line_id],
                quantity=i.quantity,
                outcome=i.outcome.value,
                reason=i.reason,
                parent_reason=i.parent_reason,
                comment=i.comment,
                expected_condition=i.expected_condition,
            )
            for i in data.items
        ],
        exchange_items=[
            ExchangeItem(sku=x.sku, title=x.title, variant=x.variant, quantity=x.quantity)
            for x in data.exchange_items
        ],
    )
    session.add(ret)
    record_timeline(ret, "created", f"return {ret.number} requested", actor, None, ret.state)
    session.flush()
    record_event(
        session,
        EventType.RETURN_CREATED,
        ret.public_id,
        {**summary(ret), "refund_amount": refund_amount, "currency": ret.currency},
    )
    return ret


def apply_action(
    session: Session,
    public_id: str,
    action: ReturnAction,
    data: ActionIn,
    actor: str,
    now: datetime,
) -> Return:
    ret = get_return(session, public_id, for_update=True)
    source = ReturnState(ret.state)
    target = next_state(source, action)
    ret.state = target.value
    if target is ReturnState.RECEIVED and ret.received_at is None:
        ret.received_at = now
    if target in VOID_STATES and ret.refund_state == RefundState.PENDING:
        ret.refund_state = RefundState.VOID
    if data.label is not None:
        ret.label_carrier = data.label.carrier or ret.label_carrier
        ret.label_tracking_number = data.label.tracking_number or ret.label_tracking_number
        ret.label_status = data.label.status or ret.label_status
    message = data.message or f"{action.value}: {source.value} → {target.value}"
    record_timeline(ret, f"state.{action.value}", message, actor, source.value, target.value)
    session.flush()
    record_event(
        session,
        EventType.RETURN_STATE_CHANGED,
        ret.public_id,
        {**summary(ret), "from": source.value, "to": target.value, "action": action.value},
    )
    return ret


def add_note(session: Session, public_id: str, data: NoteIn, actor: str) -> ReturnNote:
    ret = get_return(session, public_id, for_update=True)
    note = ReturnNote(public_id=new_id(Prefix.NOTE), body=data.body, author=data.author or actor)
    ret.notes.append(note)
    record_timeline(ret, "note", data.body[:200], note.author)
    session.flush()
    record_event(
        session,
        EventType.RETURN_NOTE_ADDED,
        ret.public_id,
        {**summary(ret), "note_id": note.public_id, "body": data.body, "author": note.author},
    )
    return note


def issue_refund(
    session: Session, public_id: str, data: RefundIn, actor: str, now: datetime
) -> Return:
    ret = get_return(session, public_id, for_update=True)
    if ret.refund_state != RefundState.PENDING:
        raise Conflict(
            "no refund pending",
            [
                FieldError(
                    "refund",
                    "refund_not_pending",
                    f"the refund of return {ret.number} is {ret.refund_state}, not pending",
                )
            ],
        )
    if ReturnState(ret.state) not in REFUNDABLE_STATES:
        allowed = ", ".join(sorted(s.value for s in REFUNDABLE_STATES))
        raise Conflict(
            "too early to refund",
            [
                FieldError(
                    "state",
                    "refund_too_early",
                    f"a refund is recorded once the return is {allowed}; it is {ret.state}",
                )
            ],
        )
    if data.amount is not None:
        ret.refund_amount = data.amount
    if data.method:
        ret.refund_method = data.method
    ret.refund_state = RefundState.ISSUED
    ret.refund_issued_at = data.issued_at or now
    record_timeline(
        ret, "refund.issued", f"refund of {ret.refund_amount} {ret.currency} issued", actor
    )
    session.flush()
    record_event(
        session,
        EventType.RETURN_REFUND_ISSUED,
        ret.public_id,
        {
            **summary(ret),
            "amount": ret.refund_amount,
            "currency": ret.currency,
            "method": ret.refund_method,
        },
    )
    return ret


def list_returns(
    session: Session,
    *,
    state: ReturnState | None = None,
    customer_id: str | None = None,
    order_id: str | None = None,
    limit: int = 50,
    after: int | None = None,
) -> list[Return]:
    query = select(Return).options(*SUMMARY_LOADS)
    if state is not None:
        query = query.where(Return.state == state.value)
    if customer_id is not None:
        key = internal_id(session, Customer, customer_id, "customer_id", "customer")
        query = query.where(Return.customer_id == key)
    if order_id is not None:
        key = internal_id(session, Order, order_id, "order_id", "order")
        query = query.where(Return.order_id == key)
    if after is not None:
        query = query.where(Return.id < after)
    return list(session.scalars(query.order_by(Return.id.desc()).limit(limit)))
