"""Applying returns that live in another system (Loop, a generic source …) to the ledger.

The source is the authority on its own returns, so its state is taken as given rather than
walked through the transition table. Delivery order does not matter: domain/convergence decides
whether a report is newer than what the ledger holds (the source's own stamps where present,
the lifecycle otherwise), an older one is ignored so nothing ever moves backwards, and one it
cannot decide changes nothing and is answered UNDECIDED so the caller can read the source's
present state. An update that arrives before its create simply creates the return. A deletion
is final, so it applies even when it is not newer (only its state is taken then).

Integrity: a return is found by (source, external id) of the verified source only; it is
attached to an existing ledger order only when that order's customer is the return's customer
(same email, or linked to the return's profile in that source); and a stamp further ahead of
this server's clock than the allowed skew is refused, so it can never hide later updates.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from returnhub.connectors.errors import MappingError, ServerError
from returnhub.domain.contact import normalize_phone
from returnhub.domain.convergence import Verdict, compare_labels, compare_returns
from returnhub.domain.errors import InvalidInput
from returnhub.domain.events import EventType
from returnhub.domain.external import ExternalLabel, ExternalReturn
from returnhub.domain.ids import Prefix, new_id, new_return_number
from returnhub.domain.lifecycle import VOID_STATES, ReturnState
from returnhub.domain.policy import Outcome
from returnhub.services import linking
from returnhub.services.customers import find_customer_by_email
from returnhub.services.events import record_event, record_timeline
from returnhub.services.returns import RefundState, summary
from returnhub.store.dialects import add_unique
from returnhub.store.tables import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    ExchangeItem,
    Order,
    OrderLine,
    Return,
    ReturnItem,
)


class SyncResult(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"
    # The payload cannot say whether it is newer (no newer stamp, and a step back in the
    # lifecycle): nothing changed; the caller may read the source's present state instead.
    UNDECIDED = "undecided"


# Results after which the ledger holds this report of the return (linked caches follow it).
APPLIED = frozenset({SyncResult.CREATED, SyncResult.UPDATED, SyncResult.UNCHANGED})

# Senders' clocks drift; a stamp further ahead than this is refused (settings override it).
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


class SourceConflict(MappingError):
    """The event is readable but must not be applied as it stands (another customer's order, a
    stamp from the future); the message says what to fix before replaying it."""


def refuse_future_stamps(
    what: str, stamps: dict[str, datetime | None], now: datetime, skew: timedelta
) -> None:
    for name, stamp in stamps.items():
        if stamp is not None and stamp > now + skew:
            raise SourceConflict(
                f"{what}: {name} {stamp.isoformat()} is {stamp - now} ahead of this server's "
                f"clock (at most {skew} is allowed); refused so it cannot hide later genuine "
                "updates. Check the sender's clock, then replay the job if the time is right"
            )


def _customer(session: Session, ext: ExternalReturn) -> Customer:
    return customer_for(
        session,
        ext.source,
        ext.profile_id,
        ext.customer_email,
        ext.customer_name,
        ext.customer_phone,
    )


def customer_for(
    session: Session, source: str, profile_id: str, email: str, name: str, phone: str
) -> Customer:
    """Whoever holds a link to the profile in its source, else whoever has the email, else a
    new customer (with the phone, when it reads as a number)."""
    customer = (
        linking.holder(session, source, profile_id) if profile_id else None
    ) or find_customer_by_email(session, email)
    if customer is not None:
        return customer
    name = name or email.split("@")[0]
    customer = Customer(
        public_id=new_id(Prefix.CUSTOMER),
        name=name,
        name_search=name.lower(),
        tags=[],
        emails=[CustomerEmail(email=email, position=0)],
        phones=[
            CustomerPhone(number=number, type="MOBILE", position=0) for number in _phone(phone)
        ],
    )
    if not add_unique(session, customer):
        # A concurrent event for the same new customer created them first: use theirs instead
        # of failing the whole apply.
        existing = find_customer_by_email(session, email)
        if existing is None:
            raise ServerError(f"customer {email} was created concurrently, then vanished")
        return existing
    record_event(session, EventType.CUSTOMER_CREATED, customer.public_id, {"name": name})
    return customer


def _phone(phone: str) -> list[str]:
    """The source's customer phone in E.164, or nothing: a number we cannot read must not stop
    the change from reaching the ledger (the email identifies the customer)."""
    if not phone:
        return []
    try:
        return [normalize_phone(phone)]
    except InvalidInput:
        return []


def _order_named(session: Session, name: str) -> Order | None:
    return session.scalar(
        select(Order)
        .where(Order.name == name)
        .options(selectinload(Order.lines), selectinload(Order.customer))
    )


def _owns(session: Session, customer: Customer, ext: ExternalReturn) -> bool:
    return owned_by(session, customer, ext.source, ext.profile_id, ext.customer_email)


def owned_by(
    session: Session, customer: Customer, source: str, profile_id: str, email: str
) -> bool:
    """Is the source's customer (profile, email) this ledger customer: the same email, or
    linked to that profile in its source?"""
    if email in {e.email for e in customer.emails}:
        return True
    holder = linking.holder(session, source, profile_id) if profile_id else None
    return holder is not None and holder.id == customer.id


def _checked(session: Session, order: Order, ext: ExternalReturn) -> Order:
    if not _owns(session, order.customer, ext):
        raise SourceConflict(
            f"{ext.source} return {ext.external_id} names order {ext.order_name}, which in the "
            f"ledger belongs to customer {order.customer.public_id}, not to {ext.customer_email} "
            f"({ext.source} profile {ext.profile_id}); it was not attached to that order. If they "
            f"are the same person, link that {ext.source} profile to {order.customer.public_id} "
            f"(POST /api/v1/customers/{order.customer.public_id}/links) and replay the job; "
            f"otherwise correct the order in {ext.source}"
        )
    return order


def _order(session: Session, ext: ExternalReturn) -> tuple[Customer, Order]:
    """The ledger order the return belongs to and its customer: an existing order only when its
    customer is the return's (SourceConflict otherwise), else a new one under the return's
    customer."""
    order = _order_named(session, ext.order_name)
    if order is not None:
        order = _checked(session, order, ext)
    else:
        customer = _customer(session, ext)
        order = Order(
            public_id=new_id(Prefix.ORDER),
            customer=customer,
            name=ext.order_name,
            placed_at=ext.created_at,
            delivered_at=None,
            currency=ext.currency,
            shipping_zip=ext.shipping_zip,
            lines=[],
        )
        if not add_unique(session, order):
            # A concurrent event created the order first: it must still be ours.
            raced = _order_named(session, ext.order_name)
            if raced is None:
                raise ServerError(f"order {ext.order_name} was created concurrently, then vanished")
            order = _checked(session, raced, ext)
    # The source knows items our copy of the customer's order may lack (an order never
    # imported here).
    wanted = Counter(item.sku for item in ext.items)
    have = {line.sku: line for line in order.lines}
    for item in ext.items:
        line = have.get(item.sku)
        if line is None:
            line = OrderLine(
                public_id=new_id(Prefix.ORDER_LINE),
                position=len(order.lines),
                sku=item.sku,
                title=item.title,
                variant=item.variant,
                quantity=wanted[item.sku],
                unit_price=item.unit_price,
                final_sale=False,
            )
            order.lines.append(line)
            have[item.sku] = line
        elif line.quantity < wanted[item.sku]:
            line.quantity = wanted[item.sku]
    return order.customer, order


def _refund_state(ret: Return, ext: ExternalReturn) -> str:
    if ret.refund_amount == 0:
        return RefundState.NONE
    if ext.state in VOID_STATES:
        return RefundState.VOID
    if ext.reports_refunds:
        return RefundState.ISSUED if ext.refund_issued_at is not None else RefundState.PENDING
    if ext.state in (ReturnState.PROCESSED, ReturnState.CLOSED):
        return RefundState.ISSUED
    return RefundState.PENDING


def _apply_refund_state(ret: Return, ext: ExternalReturn) -> bool:
    """Set the refund's state (and, from a source that reports it, when it was issued);
    whether anything changed."""
    state = _refund_state(ret, ext)
    issued_at = ext.refund_issued_at if state == RefundState.ISSUED else None
    changed = state != ret.refund_state
    ret.refund_state = state
    if ext.reports_refunds and ret.refund_issued_at != issued_at:
        ret.refund_issued_at = issued_at
        changed = True
    return changed


def _stored_return(source: str, external_id: str) -> Select[Return]:
    """The ledger's copy of a source's return, locked (its order and customer only read: the
    change's domain event names them)."""
    return (
        select(Return)
        .where(Return.source_system == source, Return.external_id == external_id)
        .options(joinedload(Return.order), joinedload(Return.customer))
        .with_for_update(of=Return)
    )


def apply_external_return(
    session: Session, ext: ExternalReturn, now: datetime, skew: timedelta = DEFAULT_CLOCK_SKEW
) -> SyncResult:
    refuse_future_stamps(
        f"{ext.source} return {ext.external_id}",
        {
            "updated_at": None if ext.current else ext.updated_at,
            "label_updated_at": ext.label_updated_at,
        },
        now,
        skew,
    )
    ret = session.scalar(_stored_return(ext.source, ext.external_id))
    actor = f"{ext.source} sync"
    if ret is None:
        customer, order = _order(session, ext)
        lines = {line.sku: line for line in order.lines}
        grouped: dict[tuple[str, Outcome, str, str, str], int] = Counter()
        for item in ext.items:
            grouped[(item.sku, item.outcome, item.reason, item.parent_reason, item.comment)] += 1
        refund = sum(i.unit_price for i in ext.items if i.outcome is not Outcome.EXCHANGE)
        ret = Return(
            public_id=new_id(Prefix.RETURN),
            number=new_return_number(),
            order=order,
            customer=customer,
            state=ext.state.value,
            currency=ext.currency,
            refund_amount=ext.refund_amount if ext.refund_amount is not None else refund,
            refund_method="",
            label_carrier=ext.label_carrier,
            label_tracking_number=ext.label_tracking_number,
            label_status=ext.label_status,
            label_updated_at=ext.label_updated_at,
            status_page_url=ext.status_page_url,
            source_system=ext.source,
            external_id=ext.external_id,
            source_updated_at=ext.updated_at,
            received_at=now if ext.state is ReturnState.RECEIVED else None,
            items=[
                ReturnItem(
                    public_id=new_id(Prefix.RETURN_ITEM),
                    order_line=lines[sku],
                    quantity=qty,
                    outcome=outcome.value,
                    reason=reason,
                    parent_reason=parent,
                    comment=comment,
                )
                for (sku, outcome, reason, parent, comment), qty in grouped.items()
            ],
            exchange_items=[
                ExchangeItem(sku=x.sku, title=x.title, variant=x.variant, quantity=x.quantity)
                for x in ext.exchange_items
            ],
        )
        _apply_refund_state(ret, ext)
        session.add(ret)
        record_timeline(
            ret,
            "synced",
            f"imported from {ext.source} return {ext.external_id}",
            actor,
            None,
            ret.state,
        )
        record_event(session, EventType.RETURN_CREATED, ret.public_id, summary(ret))
        return SyncResult.CREATED

    verdict = (
        Verdict.NEWER
        if ext.current
        else compare_returns(
            ReturnState(ret.state), ret.source_updated_at, ext.state, ext.updated_at
        )
    )
    if verdict is not Verdict.NEWER and not ext.deleted:
        return SyncResult.STALE if verdict is Verdict.OLDER else SyncResult.UNDECIDED
    # A deletion that is not newer still ends the return, but its other fields are older.
    changed = _refresh_fields(ret, ext) if verdict is Verdict.NEWER else False
    previous = ret.state
    if ext.state.value != previous:
        ret.state = ext.state.value
        _apply_refund_state(ret, ext)
        if ext.state is ReturnState.RECEIVED and ret.received_at is None:
            ret.received_at = now
        record_timeline(
            ret,
            "synced",
            f"{ext.source}: {previous} → {ext.state.value}",
            actor,
            previous,
            ret.state,
        )
        record_event(
            session,
            EventType.RETURN_STATE_CHANGED,
            ret.public_id,
            {**summary(ret), "from": previous, "to": ret.state, "action": "sync"},
        )
        return SyncResult.UPDATED
    return SyncResult.UPDATED if changed else SyncResult.UNCHANGED


def _refresh_fields(ret: Return, ext: ExternalReturn) -> bool:
    """Take the source's newer details (not the state); whether anything changed."""
    if ext.updated_at is not None and (
        ret.source_updated_at is None or ext.updated_at > ret.source_updated_at
    ):
        ret.source_updated_at = ext.updated_at
    changed = False
    fields = [("status_page_url", ext.status_page_url)]
    # The label has its own clock: a return report older than the last label event must not
    # roll the label back, and one with newer label data must not lose it.
    if ext.label_status and (
        ext.current
        or compare_labels(
            ret.label_status, ret.label_updated_at, ext.label_status, ext.label_updated_at
        )
        is Verdict.NEWER
    ):
        fields += [
            ("label_carrier", ext.label_carrier),
            ("label_tracking_number", ext.label_tracking_number),
            ("label_status", ext.label_status),
        ]
        if ext.label_updated_at is not None:
            ret.label_updated_at = ext.label_updated_at
    for attr, value in fields:
        if value and getattr(ret, attr) != value:
            setattr(ret, attr, value)
            changed = True
    if ext.refund_amount is not None and ext.refund_amount != ret.refund_amount:
        ret.refund_amount = ext.refund_amount
        changed = True
    if ext.reports_refunds and ext.state.value == ret.state:
        # A refund issued with no change of state (Shopify refunds a closed return later).
        changed = _apply_refund_state(ret, ext) or changed
    return changed


class ReturnNotYetKnown(ServerError):
    """A label event for a return whose create has not arrived: retried until it has."""


def apply_external_label(
    session: Session, label: ExternalLabel, now: datetime, skew: timedelta = DEFAULT_CLOCK_SKEW
) -> SyncResult:
    refuse_future_stamps(
        f"{label.source} label of return {label.external_return_id}",
        {"label_updated_at": label.updated_at},
        now,
        skew,
    )
    ret = session.scalar(_stored_return(label.source, label.external_return_id))
    if ret is None:
        raise ReturnNotYetKnown(
            f"no {label.source} return {label.external_return_id} in the ledger yet; "
            "waiting for its return event"
        )
    verdict = compare_labels(
        ret.label_status, ret.label_updated_at, label.label_status, label.updated_at
    )
    if verdict is not Verdict.NEWER:
        return SyncResult.STALE
    held = (ret.label_carrier, ret.label_tracking_number, ret.label_status)
    ret.label_updated_at = label.updated_at
    ret.label_carrier = label.carrier or ret.label_carrier
    ret.label_tracking_number = label.tracking_number or ret.label_tracking_number
    ret.label_status = label.label_status
    if (ret.label_carrier, ret.label_tracking_number, ret.label_status) == held:
        return SyncResult.UNCHANGED  # the same label again (a resend with a new body)
    record_timeline(ret, "label", f"label {label.label_status}", f"{label.source} sync")
    record_event(
        session,
        EventType.RETURN_LABEL_UPDATED,
        ret.public_id,
        {
            **summary(ret),
            "label_status": label.label_status,
            "tracking_number": ret.label_tracking_number,
        },
    )
    return SyncResult.UPDATED
