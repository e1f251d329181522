"""The facts routing sees, computed from snapshots of the ledger (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.routing import (
    Contact,
    CustomerSnapshot,
    OrderSnapshot,
    ReturnSnapshot,
    latest_return,
    routing_facts,
)
from returnhub.domain.rules import Channel, check_facts

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def ret(
    id: int,
    state: ReturnState,
    *,
    refund_state: str = "pending",
    received_days_ago: float | None = None,
    processed_days_ago: float | None = None,
    created_days_ago: float = 20,
    updated_days_ago: float = 1,
    outcomes: tuple[str, ...] = ("refund",),
) -> ReturnSnapshot:
    return ReturnSnapshot(
        id=id,
        state=state,
        refund_state=refund_state,
        refund_amount=12900,
        created_at=ago(created_days_ago),
        updated_at=ago(updated_days_ago),
        received_at=ago(received_days_ago) if received_days_ago is not None else None,
        processed_at=ago(processed_days_ago) if processed_days_ago is not None else None,
        outcomes=outcomes,
    )


def test_nobody_identified() -> None:
    facts = routing_facts(Contact(Channel.SMS, "where is my refund"), None, NOW)
    assert facts == {
        "contact.channel": "sms",
        "contact.text": "where is my refund",
        "customer.known": False,
        "customer.tags": [],
        "customer.vip": False,
        "customer.lifetime_returns": 0,
        "returns.open_count": 0,
        "returns.has_flagged": False,
    }


def test_a_customer_with_returns_and_an_order() -> None:
    customer = CustomerSnapshot(
        tags=("vip", "wholesale"),
        returns=(
            ret(1, ReturnState.CLOSED, refund_state="issued", created_days_ago=90),
            ret(2, ReturnState.RECEIVED, received_days_ago=8.5, outcomes=("exchange", "refund")),
            ret(3, ReturnState.FLAGGED, received_days_ago=3, updated_days_ago=0.5),
        ),
        latest_order=OrderSnapshot(value=28300, delivered_at=ago(12.2)),
    )
    facts = routing_facts(Contact(Channel.CHAT), customer, NOW)
    assert facts == {
        "contact.channel": "chat",
        "contact.text": "",
        "customer.known": True,
        "customer.tags": ["vip", "wholesale"],
        "customer.vip": True,
        "customer.lifetime_returns": 3,
        "returns.open_count": 2,
        "returns.has_flagged": True,
        # the most recently updated open return
        "returns.latest_state": "flagged",
        "returns.latest_outcomes": ["refund"],
        "returns.latest_refund_amount": 12900,
        "returns.latest_refund_state": "pending",
        # the longest wait, whole days
        "refund.pending_days": 8,
        "order.value": 28300,
        "order.days_since_delivery": 12,
    }
    assert check_facts(facts) == []


def test_pending_days_counts_only_refunds_waiting_after_the_goods_came_back() -> None:
    def pending(*returns: ReturnSnapshot) -> object:
        return routing_facts(None, CustomerSnapshot(returns=returns), NOW).get(
            "refund.pending_days"
        )

    # requested or in transit: the refund is pending, but nobody owes it yet
    assert pending(ret(1, ReturnState.IN_TRANSIT)) is None
    # issued or void refunds are not waiting
    assert (
        pending(ret(1, ReturnState.PROCESSED, refund_state="issued", received_days_ago=9)) is None
    )
    assert pending(ret(1, ReturnState.REJECTED, refund_state="void", received_days_ago=9)) is None
    # received, flagged, processed and closed returns wait from their receipt
    assert pending(ret(1, ReturnState.RECEIVED, received_days_ago=6.9)) == 6
    assert pending(ret(1, ReturnState.CLOSED, received_days_ago=7)) == 7
    # processed without ever being received (a person decided): waits from processing
    assert pending(ret(1, ReturnState.PROCESSED, processed_days_ago=10)) == 10
    # received a moment from now (clock skew between systems) counts as zero, not negative
    assert pending(ret(1, ReturnState.RECEIVED, received_days_ago=-0.1)) == 0


def test_latest_return_without_open_ones_is_the_newest() -> None:
    older = ret(1, ReturnState.CLOSED, created_days_ago=30, updated_days_ago=0)
    newer = ret(2, ReturnState.CANCELLED, created_days_ago=10, updated_days_ago=9)
    assert latest_return([older, newer]) == newer
    assert latest_return([]) is None


def test_an_undelivered_order_has_a_value_but_no_days_since_delivery() -> None:
    facts = routing_facts(
        None, CustomerSnapshot(latest_order=OrderSnapshot(value=900, delivered_at=None)), NOW
    )
    assert facts["order.value"] == 900
    assert "order.days_since_delivery" not in facts
    assert "contact.channel" not in facts
