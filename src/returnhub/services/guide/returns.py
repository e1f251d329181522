"""The return facts the guide reads: the customer's returns, an order's lines with their
eligibility, and whether the merchant's criteria would grant an exception."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from returnhub.domain.policy import LineEligibility, OrderFacts, ReasonCode
from returnhub.domain.routing import VIP_TAG
from returnhub.services import allowlist, orders
from returnhub.services.guide.turn import GUIDE_ACTOR, Turn
from returnhub.store.tables import Customer, Order, OrderLine, Return


def customer_returns(turn: Turn, customer: Customer) -> list[Return]:
    """The customer's latest returns; those of the conversation's order when it has any."""
    query = (
        select(Return)
        .where(Return.customer_id == customer.id)
        .options(joinedload(Return.order))
        .order_by(Return.created_at.desc(), Return.id.desc())
        .limit(20)
    )
    # Read once a turn: a second question in the same message (status and refund) reuses it.
    if turn.returns is None:
        turn.returns = list(turn.session.scalars(query))
    returns = turn.returns
    order_id = turn.state.order_id
    if order_id:
        mine = [r for r in returns if r.order.public_id == order_id]
        returns = mine or returns
    return returns


def return_facts(ret: Return) -> dict[str, Any]:
    return {
        "number": ret.number,
        "order": ret.order.name,
        "state": ret.state,
        "carrier": ret.label_carrier,
        "tracking_number": ret.label_tracking_number,
        "status_page_url": ret.status_page_url,
        "refund_state": ret.refund_state,
        "refund_amount": ret.refund_amount,
    }


def order_facts(turn: Turn, customer: Customer, order: Order) -> OrderFacts:
    """``orders.order_facts``, with the allowlist read once for the whole customer, so the
    exception check needs no query of its own."""
    if turn.allowlisted is None:
        turn.allowlisted = allowlist.customer_entries(turn.session, customer.id)
    return orders.order_facts(turn.session, order, turn.allowlisted)


def only_window_closed(v: LineEligibility) -> bool:
    codes = {r.code for o in v.outcomes.values() for r in o.reasons}
    return ReasonCode.WINDOW_CLOSED in codes and codes <= {ReasonCode.WINDOW_CLOSED}


def reasons(v: LineEligibility) -> list[str]:
    return sorted({r.message for o in v.outcomes.values() for r in o.reasons})


@dataclass(frozen=True)
class ItemChoice:
    """An order line with its eligibility, as the guide offers it."""

    line: OrderLine
    verdict: LineEligibility

    @property
    def late(self) -> bool:
        """Held back by a closed window and nothing else."""
        v = self.verdict
        return v.returnable_quantity > 0 and only_window_closed(v)

    def actionable(self, exception_granted: bool) -> bool:
        return self.verdict.eligible or (exception_granted and self.late)

    @property
    def name(self) -> str:
        variant = f" ({self.line.variant})" if self.line.variant else ""
        return f"{self.line.title}{variant}"


def verdict_facts(c: ItemChoice) -> dict[str, Any]:
    v = c.verdict
    return {
        "line_id": v.line_id,
        "item": c.name,
        "eligible": v.eligible,
        "returnable_quantity": v.returnable_quantity,
        "reasons": reasons(v),
    }


def words_of(title: str, shortest: int = 4) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z]+", title.lower()) if len(w) >= shortest}


def line_mentioned(title: str, words: set[str]) -> bool:
    return any(len(w) > 3 and w.strip(".,!?").rstrip("s") in words_of(title) for w in words)


@dataclass(frozen=True)
class ExceptionCheck:
    granted: bool
    why: str
    checks: dict[str, Any]


def exception_check(
    turn: Turn, customer: Customer, verdicts: list[LineEligibility]
) -> ExceptionCheck:
    """Whether the merchant's criteria would grant an exception for this order (no side effect;
    the allowlist was read with the order's facts, so this costs no query)."""
    s = turn.settings
    ends = [
        o.window_ends_at
        for v in verdicts
        if v.returnable_quantity > 0 and only_window_closed(v)
        for o in v.outcomes.values()
        if o.window_ends_at
    ]
    closed_at = max(ends) if ends else None
    vip = VIP_TAG in (customer.tags or [])
    days_late = (turn.now - closed_at).days if closed_at else None
    within_grace = days_late is not None and days_late <= s.guide_exception_grace_days
    previous = sum(
        1 for e in turn.allowlisted or [] if e.created_by == GUIDE_ACTOR and e.kind == "order"
    )
    checks = {
        "vip": {"enabled": s.guide_exception_vip, "value": vip},
        "grace_days": {
            "limit": s.guide_exception_grace_days,
            "days_since_window_closed": days_late,
            "value": within_grace,
        },
        "first_exception": {
            "enabled": s.guide_exception_first_only,
            "previous_guide_exceptions": previous,
            "value": previous == 0,
        },
    }
    qualifies = closed_at is not None and ((s.guide_exception_vip and vip) or within_grace)
    granted = qualifies and (not s.guide_exception_first_only or previous == 0)
    why = "VIP customer" if s.guide_exception_vip and vip else f"{days_late} days late"
    return ExceptionCheck(granted, why, checks)
