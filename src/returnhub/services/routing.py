"""Routing a contact: identify the customer, read their facts from the ledger, apply the rules.

The rules file is RETURNHUB_ROUTING_RULES_FILE, or the shipped ``returnhub/rules/default.yaml``
when that is empty. It is parsed once and kept per path; an edit to the file (a new mtime or size)
is picked up on the next evaluation. An edit that does not load is logged and ignored: the last
rules that loaded keep answering, because a typo in a rules file must not stop the help desk.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from returnhub.domain.errors import InvalidInput
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.routing import (
    Contact,
    CustomerSnapshot,
    OrderSnapshot,
    ReturnSnapshot,
    routing_facts,
)
from returnhub.domain.rules import Decision, RulesError, RuleSet, parse_rules
from returnhub.services.customer_lookup import OrderView, ReturnView
from returnhub.services.customers import find_customer_by_email, search_customers
from returnhub.settings import Settings
from returnhub.store.prepared import PreparedSelect, Reader, fetch
from returnhub.store.tables import Customer, Order, OrderLine, Return, ReturnItem, TimelineEntry

log = structlog.get_logger(__name__)

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"
PROCESS_TIMELINE_KIND = "state.process"


# ---- the rules file ----------------------------------------------------------------------------


class RulesUnavailable(RuntimeError):
    """No usable rules: the file is missing or invalid and nothing loaded from it before."""


def rules_path(settings: Settings) -> Path:
    configured = settings.routing_rules_file.strip()
    return Path(configured) if configured else DEFAULT_RULES_FILE


def load_rules_file(path: Path) -> RuleSet:
    """One file, validated: ``RulesError`` lists every problem; ``OSError`` if unreadable."""
    return parse_rules(path.read_text(encoding="utf-8"), str(path))


@dataclass
class _Loaded:
    stamp: tuple[int, int]
    rules: RuleSet
    rejected: tuple[int, int] | None = None
    """The stamp of a later version that did not load (logged once, not re-parsed)."""


_loaded: dict[Path, _Loaded] = {}
_lock = threading.Lock()


def active_rules(settings: Settings) -> RuleSet:
    path = rules_path(settings)
    known = _loaded.get(path)
    try:
        stat = path.stat()
    except OSError as exc:
        if known is not None:
            return known.rules
        raise RulesUnavailable(f"cannot read the routing rules file {path}: {exc}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    if known is not None and stamp in (known.stamp, known.rejected):
        return known.rules
    with _lock:
        known = _loaded.get(path)
        if known is not None and stamp in (known.stamp, known.rejected):
            return known.rules
        try:
            rules = load_rules_file(path)
        except (RulesError, OSError) as exc:
            if known is None:
                raise RulesUnavailable(
                    f"the routing rules file {path} does not load: {exc} "
                    f"(run `returnhub rules check {path}`)"
                ) from None
            known.rejected = stamp
            log.error("routing_rules_rejected", path=str(path), error=str(exc))
            return known.rules
        _loaded[path] = _Loaded(stamp, rules)
        if known is not None:
            log.info("routing_rules_reloaded", path=str(path), rules=len(rules.rules))
        return rules


# ---- who is this -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRef:
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Match:
    key: int
    customer_id: str
    tags: tuple[str, ...]
    matched_by: str


def identify(session: Session, ref: CustomerRef, phone_region: str) -> Match | None:
    """The customer the identifiers point at, tried in order customer_id, email, phone; the
    first that identifies exactly one customer wins. A phone shared by several customers (a
    household landline) or unreadable (a withheld caller id) identifies nobody."""
    if ref.customer_id:
        row = session.execute(
            select(Customer.id, Customer.public_id, Customer.tags).where(
                Customer.public_id == ref.customer_id
            )
        ).first()
        if row is not None:
            return Match(row.id, row.public_id, tuple(row.tags or ()), "customer_id")
    if ref.email:
        customer = find_customer_by_email(session, ref.email)
        if customer is not None:
            return Match(customer.id, customer.public_id, tuple(customer.tags or ()), "email")
    if ref.phone:
        try:
            found = search_customers(session, phone=ref.phone, phone_region=phone_region, limit=2)
        except InvalidInput:
            found = []
        if len(found) == 1:
            customer = found[0]
            return Match(customer.id, customer.public_id, tuple(customer.tags or ()), "phone")
    return None


# ---- facts from the ledger ---------------------------------------------------------------------


_PROCESSED_AT = PreparedSelect(
    select(TimelineEntry.return_id, func.min(TimelineEntry.created_at))
    .where(
        TimelineEntry.return_id.in_(bindparam("ids", expanding=True)),
        TimelineEntry.kind == PROCESS_TIMELINE_KIND,
    )
    .group_by(TimelineEntry.return_id)
)


def _processed_at(reader: Reader, return_ids: Sequence[int]) -> dict[int, datetime]:
    if not return_ids:
        return {}
    return {return_id: at for return_id, at in fetch(reader, _PROCESSED_AT, {"ids": return_ids})}


def customer_snapshot(
    session: Session | Connection, key: int, tags: Sequence[str]
) -> CustomerSnapshot:
    """Two queries (returns with their items' outcomes; the latest order's value), plus a third
    only for a pending refund on a return processed without ever being received."""
    rows = session.execute(
        select(
            Return.id,
            Return.state,
            Return.refund_state,
            Return.refund_amount,
            Return.created_at,
            Return.updated_at,
            Return.received_at,
            ReturnItem.outcome,
        )
        .outerjoin(ReturnItem, ReturnItem.return_id == Return.id)
        .where(Return.customer_id == key)
    ).all()
    fields: dict[int, dict[str, Any]] = {}
    outcomes: dict[int, list[str]] = {}
    for row in rows:
        fields.setdefault(
            row.id,
            {
                "id": row.id,
                "state": ReturnState(row.state),
                "refund_state": row.refund_state,
                "refund_amount": int(row.refund_amount),
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "received_at": row.received_at,
            },
        )
        if row.outcome is not None:
            outcomes.setdefault(row.id, []).append(row.outcome)
    never_received = [
        f["id"]
        for f in fields.values()
        if f["received_at"] is None
        and f["refund_state"] == "pending"
        and f["state"] in (ReturnState.PROCESSED, ReturnState.CLOSED)
    ]
    processed = _processed_at(session, never_received)
    returns = tuple(
        ReturnSnapshot(
            **f, processed_at=processed.get(f["id"]), outcomes=tuple(outcomes.get(f["id"], ()))
        )
        for f in fields.values()
    )
    order = session.execute(
        select(
            Order.delivered_at,
            func.coalesce(func.sum(OrderLine.unit_price * OrderLine.quantity), 0).label("value"),
        )
        .outerjoin(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id == key)
        .group_by(Order.id, Order.delivered_at, Order.placed_at)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(1)
    ).first()
    latest_order = OrderSnapshot(int(order.value), order.delivered_at) if order else None
    return CustomerSnapshot(tuple(tags), returns, latest_order)


# ---- deciding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routed:
    decision: Decision
    facts: dict[str, Any]
    customer: Match | None


def route_contact(
    session: Session,
    rules: RuleSet,
    contact: Contact | None,
    ref: CustomerRef,
    now: datetime,
    phone_region: str = "US",
) -> Routed:
    """Identifiers that match nobody still get an answer (customer.known is false): a contact
    always needs a queue, and the rules decide where strangers go."""
    match = identify(session, ref, phone_region)
    snapshot = customer_snapshot(session, match.key, match.tags) if match else None
    facts = routing_facts(contact, snapshot, now)
    return Routed(rules.evaluate(facts), facts, match)


def snapshot_from_loaded(
    reader: Reader,
    tags: Sequence[str],
    returns: Sequence[ReturnView],
    latest_order: OrderView | None,
) -> CustomerSnapshot:
    """The same snapshot as customer_snapshot, from rows a caller has already loaded (the
    DETAILED lookup has them), so routing adds no queries but the rare processed-at one."""
    never_received = [
        r.id
        for r in returns
        if r.received_at is None
        and r.refund_state == "pending"
        and ReturnState(r.state) in (ReturnState.PROCESSED, ReturnState.CLOSED)
    ]
    processed = _processed_at(reader, never_received)
    snapshots = tuple(
        ReturnSnapshot(
            id=r.id,
            state=ReturnState(r.state),
            refund_state=r.refund_state,
            refund_amount=int(r.refund_amount),
            created_at=r.created_at,
            updated_at=r.updated_at,
            received_at=r.received_at,
            processed_at=processed.get(r.id),
            outcomes=tuple(item.outcome for item in r.items),
        )
        for r in returns
    )
    order = (
        OrderSnapshot(
            sum(line.unit_price * line.quantity for line in latest_order.lines),
            latest_order.delivered_at,
        )
        if latest_order is not None
        else None
    )
    return CustomerSnapshot(tuple(tags), snapshots, order)


def gladly_attributes(
    settings: Settings, snapshot: CustomerSnapshot, now: datetime
) -> dict[str, str]:
    """``routingQueue`` and ``routingPriority`` for a DETAILED lookup's customAttributes, so
    Gladly's own Rules can route on them. A lookup carries no contact, so contact.* facts are
    missing. Without usable rules the keys are left out (Gladly then keeps its last values):
    one broken file must not break the whole lookup."""
    try:
        rules = active_rules(settings)
    except RulesUnavailable as exc:
        log.error("routing_rules_unavailable", error=str(exc))
        return {}
    decision = rules.evaluate(routing_facts(None, snapshot, now))
    return {"routingQueue": decision.queue, "routingPriority": decision.priority.value}
