"""Return policy and eligibility: which order lines may be returned, for which outcome, and why.

A line is returnable for an outcome when the order was delivered, today is within that outcome's
window (days after delivery), the line is not final sale, and some of its quantity is not already
on another return. An allowlist entry (the order or the customer's email) overrides the delivery,
window and final-sale rules, never the quantity: nobody returns more than they bought.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from returnhub.domain.errors import FieldError


class Outcome(StrEnum):
    REFUND = "refund"
    EXCHANGE = "exchange"
    STORE_CREDIT = "store_credit"
    GIFT_CARD = "gift_card"


class ReasonCode(StrEnum):
    NOT_DELIVERED = "not_delivered"
    WINDOW_CLOSED = "window_closed"
    FINAL_SALE = "final_sale"
    FULLY_RETURNED = "fully_returned"
    ALLOWLISTED = "allowlisted"
    WITHIN_WINDOW = "within_window"


@dataclass(frozen=True)
class Policy:
    """Window length in days after delivery, per outcome."""

    windows: Mapping[Outcome, int]

    @classmethod
    def default(cls) -> Policy:
        return cls(
            {
                Outcome.REFUND: 30,
                Outcome.EXCHANGE: 45,
                Outcome.STORE_CREDIT: 60,
                Outcome.GIFT_CARD: 60,
            }
        )


@dataclass(frozen=True)
class LineFacts:
    line_id: str
    quantity: int
    final_sale: bool
    returned_quantity: int


@dataclass(frozen=True)
class OrderFacts:
    delivered_at: datetime | None
    lines: Sequence[LineFacts]
    allowlist_reason: str | None = None
    """Why the order is allowlisted (which entry), or None when it is not."""


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str


@dataclass(frozen=True)
class OutcomeEligibility:
    outcome: Outcome
    eligible: bool
    window_ends_at: datetime | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class LineEligibility:
    line_id: str
    quantity: int
    returned_quantity: int
    returnable_quantity: int
    outcomes: dict[Outcome, OutcomeEligibility] = field(default_factory=dict)

    @property
    def eligible(self) -> bool:
        return any(o.eligible for o in self.outcomes.values())


def evaluate_order(order: OrderFacts, policy: Policy, now: datetime) -> list[LineEligibility]:
    return [_evaluate_line(order, line, policy, now) for line in order.lines]


def _evaluate_line(
    order: OrderFacts, line: LineFacts, policy: Policy, now: datetime
) -> LineEligibility:
    returnable = max(line.quantity - line.returned_quantity, 0)
    outcomes: dict[Outcome, OutcomeEligibility] = {}
    for outcome in Outcome:
        days = policy.windows[outcome]
        window_ends_at = order.delivered_at + timedelta(days=days) if order.delivered_at else None
        blocking: list[Reason] = []
        if order.delivered_at is None:
            blocking.append(
                Reason(ReasonCode.NOT_DELIVERED, "the order has not been delivered yet")
            )
        elif window_ends_at is not None and now > window_ends_at:
            blocking.append(
                Reason(
                    ReasonCode.WINDOW_CLOSED,
                    f"the {days}-day {outcome.value} window closed on {window_ends_at:%Y-%m-%d}",
                )
            )
        if line.final_sale:
            blocking.append(Reason(ReasonCode.FINAL_SALE, "the item was sold as final sale"))
        reasons: list[Reason] = []
        if blocking and order.allowlist_reason:
            reasons.append(Reason(ReasonCode.ALLOWLISTED, order.allowlist_reason))
        else:
            reasons.extend(blocking)
        if returnable == 0:
            reasons.append(
                Reason(
                    ReasonCode.FULLY_RETURNED,
                    f"all {line.quantity} bought are already on other returns",
                )
            )
        eligible = returnable > 0 and (not blocking or order.allowlist_reason is not None)
        if eligible and not reasons and window_ends_at is not None:
            reasons.append(
                Reason(
                    ReasonCode.WITHIN_WINDOW,
                    f"within the {days}-day {outcome.value} window "
                    f"(until {window_ends_at:%Y-%m-%d})",
                )
            )
        outcomes[outcome] = OutcomeEligibility(outcome, eligible, window_ends_at, tuple(reasons))
    return LineEligibility(
        line.line_id, line.quantity, line.returned_quantity, returnable, outcomes
    )


@dataclass(frozen=True)
class RequestedItem:
    line_id: str
    quantity: int
    outcome: Outcome


def check_request(
    order: OrderFacts, policy: Policy, now: datetime, items: Sequence[RequestedItem]
) -> list[FieldError]:
    """Errors for a requested return, one per offending item (empty when it may be created)."""
    errors: list[FieldError] = []
    if not items:
        return [FieldError("items", "required", "a return needs at least one item")]
    by_line = {e.line_id: e for e in evaluate_order(order, policy, now)}
    requested: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"items.{index}"
        line = by_line.get(item.line_id)
        if line is None:
            errors.append(
                FieldError(
                    f"{where}.order_line_id",
                    "unknown_line",
                    f"{item.line_id!r} is not a line of this order",
                )
            )
            continue
        verdict = line.outcomes[item.outcome]
        blocking = [r for r in verdict.reasons if r.code is not ReasonCode.FULLY_RETURNED]
        if not verdict.eligible and blocking:
            errors.append(
                FieldError(
                    where,
                    "not_eligible",
                    f"line {item.line_id} cannot be returned for {item.outcome.value}: "
                    + "; ".join(r.message for r in blocking),
                    {"reasons": [r.code.value for r in blocking]},
                )
            )
            continue
        requested[item.line_id] = requested.get(item.line_id, 0) + item.quantity
        if requested[item.line_id] > line.returnable_quantity:
            errors.append(
                FieldError(
                    f"{where}.quantity",
                    "quantity_exceeds_returnable",
                    f"only {line.returnable_quantity} of line {item.line_id} can be returned "
                    f"({line.quantity} bought, {line.returned_quantity} already on other returns); "
                    f"this return asks for {requested[item.line_id]}",
                    {"returnable_quantity": line.returnable_quantity},
                )
            )
    return errors
