from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from returnhub.domain.policy import (
    LineFacts,
    OrderFacts,
    Outcome,
    Policy,
    ReasonCode,
    RequestedItem,
    check_request,
    evaluate_order,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
POLICY = Policy.default()


def _order(
    days_ago: int | None = 10, final_sale: bool = False, returned: int = 0, allow: str | None = None
) -> OrderFacts:
    delivered = NOW - timedelta(days=days_ago) if days_ago is not None else None
    return OrderFacts(
        delivered_at=delivered,
        lines=[LineFacts("lin_a", 2, final_sale, returned)],
        allowlist_reason=allow,
    )


def _codes(order: OrderFacts, outcome: Outcome) -> list[str]:
    line = evaluate_order(order, POLICY, NOW)[0]
    return [r.code.value for r in line.outcomes[outcome].reasons]


def test_window_boundaries_per_outcome() -> None:
    assert evaluate_order(_order(30), POLICY, NOW)[0].outcomes[Outcome.REFUND].eligible
    assert not evaluate_order(_order(31), POLICY, NOW)[0].outcomes[Outcome.REFUND].eligible
    assert evaluate_order(_order(45), POLICY, NOW)[0].outcomes[Outcome.EXCHANGE].eligible
    assert not evaluate_order(_order(46), POLICY, NOW)[0].outcomes[Outcome.EXCHANGE].eligible
    assert evaluate_order(_order(60), POLICY, NOW)[0].outcomes[Outcome.STORE_CREDIT].eligible
    assert not evaluate_order(_order(61), POLICY, NOW)[0].outcomes[Outcome.STORE_CREDIT].eligible


def test_reasons() -> None:
    assert _codes(_order(None), Outcome.REFUND) == ["not_delivered"]
    assert _codes(_order(40, final_sale=True), Outcome.REFUND) == ["window_closed", "final_sale"]
    assert _codes(_order(5, returned=2), Outcome.REFUND) == ["fully_returned"]
    assert _codes(_order(5), Outcome.REFUND) == ["within_window"]


def test_allowlist_overrides_window_and_final_sale_not_quantity() -> None:
    allowed = _order(400, final_sale=True, allow="order #1 is allowlisted")
    line = evaluate_order(allowed, POLICY, NOW)[0]
    assert line.outcomes[Outcome.REFUND].eligible
    assert _codes(allowed, Outcome.REFUND) == ["allowlisted"]
    used_up = _order(400, returned=2, allow="order #1 is allowlisted")
    assert not evaluate_order(used_up, POLICY, NOW)[0].eligible


def test_configured_windows() -> None:
    strict = Policy({o: 7 for o in Outcome})
    line = evaluate_order(_order(8), strict, NOW)[0]
    assert not line.eligible
    assert line.outcomes[Outcome.GIFT_CARD].reasons[0].message == (
        "the 7-day gift_card window closed on 2026-11-19"
    )


def test_check_request_sums_quantities_per_line() -> None:
    errors = check_request(
        _order(5, returned=1),
        POLICY,
        NOW,
        [RequestedItem("lin_a", 1, Outcome.REFUND), RequestedItem("lin_a", 1, Outcome.EXCHANGE)],
    )
    assert [(e.field, e.code) for e in errors] == [
        ("items.1.quantity", "quantity_exceeds_returnable")
    ]


def test_check_request_unknown_line() -> None:
    errors = check_request(_order(), POLICY, NOW, [RequestedItem("lin_x", 1, Outcome.REFUND)])
    assert [(e.field, e.code) for e in errors] == [("items.0.order_line_id", "unknown_line")]


@given(
    days=st.integers(min_value=0, max_value=400),
    bought=st.integers(min_value=1, max_value=5),
    returned=st.integers(min_value=0, max_value=5),
    final_sale=st.booleans(),
    allow=st.booleans(),
    outcome=st.sampled_from(list(Outcome)),
)
def test_eligibility_properties(
    days: int, bought: int, returned: int, final_sale: bool, allow: bool, outcome: Outcome
) -> None:
    returned = min(returned, bought)
    order = OrderFacts(
        NOW - timedelta(days=days),
        [LineFacts("l", bought, final_sale, returned)],
        "allowlisted" if allow else None,
    )
    line = evaluate_order(order, POLICY, NOW)[0]
    verdict = line.outcomes[outcome]
    assert line.returnable_quantity == bought - returned
    within = days <= POLICY.windows[outcome]
    assert verdict.eligible == (bought > returned and (allow or (within and not final_sale)))
    # Every "no" carries at least one reason.
    if not verdict.eligible:
        assert verdict.reasons
        assert all(r.code is not ReasonCode.WITHIN_WINDOW for r in verdict.reasons)
