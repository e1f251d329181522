"""Posting a return's changes to the customer's Gladly timeline (job kind ``gladly.activity``).

One CUSTOMER_ACTIVITY per event: non-routable, it never messages the customer; agents see it
in the customer's timeline with a link to the return in the agent workspace. The item's id is
derived from the event, so a retried or replayed job finds the item already there (409) and
nothing is posted twice. The job is enqueued in the transaction that records the event, so a
change is never committed without its activity, nor an activity posted for a rolled-back change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from returnhub.connectors.gladly.client import client_from_settings
from returnhub.delivery import outbox
from returnhub.delivery.context import HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.domain.events import EventType
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.money import Money
from returnhub.jobs.registry import registry
from returnhub.settings import Settings
from returnhub.store.tables import Customer, DomainEvent, Return, ReturnItem

log = structlog.get_logger(__name__)

ACTIVITY_JOB = "gladly.activity"
CONNECTOR = "gladly"
ACTIVITY_EVENTS = frozenset({EventType.RETURN_CREATED.value, EventType.RETURN_STATE_CHANGED.value})

SOURCE_NAME = "returnhub"
# Gladly's activity types are EMAIL, ISSUE, SMS and SURVEY and only choose the icon. A return
# is a customer issue; EMAIL or SMS would suggest to the agent that a message was sent.
ACTIVITY_TYPE = "ISSUE"
LINK_TEXT = "Open in returnhub"
MAX_ITEMS_LISTED = 20
# Gladly refuses an occurredAt older than one year; a job replayed that late is placed at the
# time it is delivered instead.
OCCURRED_AT_MAX_AGE = timedelta(days=360)

STATE_PHRASES = {
    ReturnState.REQUESTED: "requested",
    ReturnState.AUTHORIZED: "authorized",
    ReturnState.IN_TRANSIT: "in transit",
    ReturnState.RECEIVED: "received",
    ReturnState.FLAGGED: "flagged for review",
    ReturnState.PROCESSED: "processed",
    ReturnState.CLOSED: "closed",
    ReturnState.REJECTED: "rejected",
    ReturnState.CANCELLED: "cancelled",
    ReturnState.EXPIRED: "expired",
}


def item_id(event_public_id: str) -> str:
    """The Gladly conversation item id for one event: URL-safe, 30 characters."""
    return f"returnhub-{event_public_id}"


def gladly_customer(customer: Customer) -> dict[str, str] | None:
    """How Gladly finds the timeline: the first email, else the first MOBILE phone (Gladly
    identifies profiles by mobile numbers only), else nothing."""
    if customer.emails:
        return {"emailAddress": customer.emails[0].email}
    mobile = next((p.number for p in customer.phones if p.type == "MOBILE"), None)
    return {"mobilePhone": mobile} if mobile else None


def describe(event_type: str, payload: Mapping[str, Any], ret: Return) -> tuple[str, str]:
    """The activity's title and its body in Gladly's limited HTML, for one event."""
    state = str(payload.get("to") or payload.get("state") or ret.state)
    title = (
        f"Return {ret.number} requested"
        if state == ReturnState.REQUESTED
        else f"Return {ret.number} is now {_phrase(state)}"
    )
    order = f"Order {escape(ret.order.name)}"
    previous = payload.get("from")
    if event_type == EventType.RETURN_STATE_CHANGED and previous:
        parts = [f"<p>{order}: {escape(_phrase(str(previous)))} → {escape(_phrase(state))}</p>"]
    else:
        parts = [f"<p>{order}</p>"]
    lines = [_item_line(item) for item in ret.items[:MAX_ITEMS_LISTED]]
    if len(ret.items) > MAX_ITEMS_LISTED:
        lines.append(f"and {len(ret.items) - MAX_ITEMS_LISTED} more")
    parts.append("<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>")
    if ret.exchange_items:
        wanted = ", ".join(
            _described(x.quantity, x.title or x.sku, x.variant)
            for x in ret.exchange_items[:MAX_ITEMS_LISTED]
        )
        parts.append(f"<p>Exchange for: {wanted}</p>")
    if ret.refund_amount > 0:
        refund = f"Refund: {escape(Money(ret.refund_amount, ret.currency).format())}"
        if ret.refund_method:
            refund += f" to {escape(ret.refund_method.replace('_', ' '))}"
        parts.append(f"<p>{refund} ({escape(ret.refund_state)})</p>")
    if ret.label_tracking_number:
        tracking = " ".join(filter(None, (ret.label_carrier, ret.label_tracking_number)))
        status = f" ({escape(ret.label_status)})" if ret.label_status else ""
        parts.append(f"<p>Tracking: {escape(tracking)}{status}</p>")
    return title, "".join(parts)


@registry.on_event
def enqueue_activity(session: Session, event: DomainEvent, settings: Settings) -> bool:
    """Enqueue the activity job for ``event`` when Gladly timeline activity is on and the event
    is a return being created or changing state; True when a job was added."""
    if not settings.gladly_activity_enabled or event.type not in ACTIVITY_EVENTS:
        return False
    return outbox.enqueue(
        session,
        ACTIVITY_JOB,
        {"event_id": event.public_id},
        connector=CONNECTOR,
        # One lane per return: its activities reach the timeline in the order they happened.
        lock_key=f"gladly:{event.subject_id}",
        dedupe_key=f"gladly-activity:{event.public_id}",
    )


@registry.handler(ACTIVITY_JOB)
def post_activity(ctx: HandlerContext, job: ClaimedJob) -> None:
    client = client_from_settings(ctx.settings, ctx.http)
    event_id = str(job.payload["event_id"])
    with ctx.db.read() as session:
        event = session.scalar(select(DomainEvent).where(DomainEvent.public_id == event_id))
        if event is None:
            log.warning("gladly_activity_skipped", job=job.public_id, reason="event not found")
            return
        ret = session.scalar(
            select(Return)
            .where(Return.public_id == event.subject_id)
            .options(
                selectinload(Return.items).selectinload(ReturnItem.order_line),
                selectinload(Return.exchange_items),
                selectinload(Return.order),
                selectinload(Return.customer).selectinload(Customer.emails),
                selectinload(Return.customer).selectinload(Customer.phones),
            )
        )
        if ret is None:
            log.warning("gladly_activity_skipped", job=job.public_id, reason="return not found")
            return
        customer = gladly_customer(ret.customer)
        if customer is None:
            # Nothing to retry: Gladly finds timelines by email or mobile phone only.
            log.info(
                "gladly_activity_skipped",
                job=job.public_id,
                event_id=event_id,
                customer=ret.customer.public_id,
                reason="the customer has no email address and no mobile phone",
            )
            return
        title, body = describe(event.type, event.payload, ret)
        link_url = f"{ctx.settings.base_url.rstrip('/')}/agent/returns/{ret.public_id}"
        occurred_at: datetime | None = event.occurred_at
    # The wall clock, not the business clock: the age limit is Gladly's.
    if occurred_at is not None and datetime.now(UTC) - occurred_at > OCCURRED_AT_MAX_AGE:
        occurred_at = None
    result = client.create_conversation_item(
        customer,
        item_id=item_id(event_id),
        title=title,
        body=body,
        activity_type=ACTIVITY_TYPE,
        source_name=SOURCE_NAME,
        link_url=link_url,
        link_text=LINK_TEXT,
        occurred_at=occurred_at,
    )
    log.info(
        "gladly_activity_posted",
        job=job.public_id,
        event_id=event_id,
        item=result.id,
        already_there=not result.created,
    )


def _phrase(state: str) -> str:
    try:
        return STATE_PHRASES[ReturnState(state)]
    except ValueError:
        return state.replace("_", " ")


def _described(quantity: int, title: str, variant: str) -> str:
    line = f"{quantity} \N{MULTIPLICATION SIGN} {escape(title)}"
    return f"{line} ({escape(variant)})" if variant else line


def _item_line(item: ReturnItem) -> str:
    line = _described(item.quantity, item.order_line.title, item.order_line.variant)
    line += f": {escape(item.outcome.replace('_', ' '))}"
    if item.reason:
        line += f" ({escape(item.reason)})"
    return line
