"""The facts routing rules see, computed from what the ledger knows about a customer (pure).

The service reads a few columns into the snapshots below; ``routing_facts`` turns them into the
flat ``{dotted.path: value}`` mapping that ``domain.rules`` evaluates. Facts that do not apply
(no returns, no order, no contact) are left out, which the rules language calls *missing*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from returnhub.domain.lifecycle import OPEN_STATES, ReturnState
from returnhub.domain.rules import Channel

VIP_TAG = "vip"
REFUND_PENDING = "pending"


@dataclass(frozen=True)
class Contact:
    channel: Channel
    text: str = ""


@dataclass(frozen=True)
class ReturnSnapshot:
    id: int
    state: ReturnState
    refund_state: str
    refund_amount: int
    created_at: datetime
    updated_at: datetime
    received_at: datetime | None = None
    processed_at: datetime | None = None
    """When it was processed; only needed (and only read) when it was never received."""
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderSnapshot:
    value: int
    delivered_at: datetime | None


@dataclass(frozen=True)
class CustomerSnapshot:
    tags: tuple[str, ...] = ()
    returns: tuple[ReturnSnapshot, ...] = ()
    latest_order: OrderSnapshot | None = None


def latest_return(returns: Sequence[ReturnSnapshot]) -> ReturnSnapshot | None:
    """The return a contact is most likely about: the most recently updated open one, else the
    newest (the same choice as the help desk's latestReturnState attribute)."""
    open_ = [r for r in returns if r.state in OPEN_STATES]
    if open_:
        return max(open_, key=lambda r: (r.updated_at, r.id))
    return max(returns, key=lambda r: (r.created_at, r.id), default=None)


def refund_waiting_since(ret: ReturnSnapshot) -> datetime | None:
    """Since when the customer waits for this return's refund: the goods came back (received),
    or a person processed it without them; None when no refund is pending."""
    if ret.refund_state != REFUND_PENDING:
        return None
    return ret.received_at or ret.processed_at


def refund_pending_days(returns: Sequence[ReturnSnapshot], now: datetime) -> int | None:
    waits = [
        max((now - since).days, 0)
        for since in map(refund_waiting_since, returns)
        if since is not None
    ]
    return max(waits) if waits else None


def routing_facts(
    contact: Contact | None, customer: CustomerSnapshot | None, now: datetime
) -> dict[str, Any]:
    """Flat facts for ``RuleSet.evaluate``; ``customer`` None means nobody was identified."""
    facts: dict[str, Any] = {}
    if contact is not None:
        facts["contact.channel"] = contact.channel.value
        facts["contact.text"] = contact.text
    known = customer is not None
    customer = customer or CustomerSnapshot()
    returns = customer.returns
    facts["customer.known"] = known
    facts["customer.tags"] = list(customer.tags)
    facts["customer.vip"] = VIP_TAG in customer.tags
    facts["customer.lifetime_returns"] = len(returns)
    facts["returns.open_count"] = sum(1 for r in returns if r.state in OPEN_STATES)
    facts["returns.has_flagged"] = any(r.state is ReturnState.FLAGGED for r in returns)
    latest = latest_return(returns)
    if latest is not None:
        facts["returns.latest_state"] = latest.state.value
        facts["returns.latest_outcomes"] = sorted(set(latest.outcomes))
        facts["returns.latest_refund_amount"] = latest.refund_amount
        facts["returns.latest_refund_state"] = latest.refund_state
    pending = refund_pending_days(returns, now)
    if pending is not None:
        facts["refund.pending_days"] = pending
    order = customer.latest_order
    if order is not None:
        facts["order.value"] = order.value
        if order.delivered_at is not None and order.delivered_at <= now:
            facts["order.days_since_delivery"] = (now - order.delivered_at).days
    return facts
