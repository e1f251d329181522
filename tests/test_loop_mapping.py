"""The pure Loop mapping, one line per captured payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from returnhub.connectors.errors import MappingError
from returnhub.connectors.loop import webhooks as loop
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome

FIXTURES = Path(__file__).parent / "fixtures" / "loop"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize(
    ("name", "state", "updated"),
    [
        # edited_at null: Loop gives no update time (the created time is not one).
        ("return_created", ReturnState.AUTHORIZED, None),
        (
            "return_updated__in_transit",
            ReturnState.IN_TRANSIT,
            datetime(2026, 11, 12, 9, 30, tzinfo=UTC),
        ),
        (
            "return_updated__needs_review",
            ReturnState.FLAGGED,
            datetime(2026, 11, 14, 16, tzinfo=UTC),
        ),
        ("return_closed", ReturnState.CLOSED, datetime(2026, 11, 15, 10, tzinfo=UTC)),
    ],
)
def test_return_payloads(name: str, state: ReturnState, updated: datetime | None) -> None:
    ext = loop.map_return(fixture(name))
    assert (ext.external_id, ext.state, ext.updated_at) == ("8815306", state, updated)


def test_return_details() -> None:
    ext = loop.map_return(fixture("return_created"))
    assert ext.customer_email == "jordan.lee@example.com"
    assert ext.customer_name == "Jordan Lee"
    assert ext.order_name == "#90507"
    assert ext.refund_amount == 5900
    assert [(i.sku, i.unit_price, i.outcome, i.reason, i.parent_reason) for i in ext.items] == [
        ("JKT-RAIN-NVY-M", 5900, Outcome.REFUND, "Too small", "Fit"),
        ("TEE-BASIC-WHT-S", 3000, Outcome.EXCHANGE, "Wrong colour", "Style"),
    ]
    assert [x.sku for x in ext.exchange_items] == ["TEE-BASIC-BLK-S"]
    assert ext.status_page_url.startswith("https://example.loopreturns.com/#/return/")
    assert ext.shipping_zip == "94105"


def test_label_payload() -> None:
    label = loop.map_label(fixture("label_updated__out_for_delivery"))
    assert (label.external_return_id, label.label_status, label.updated_at) == (
        "8815306",
        "out_for_delivery",
        datetime(2026, 11, 13, 8, tzinfo=UTC),
    )


@pytest.mark.parametrize("spelling", ["review", "needs review", "needs_review", "Needs Review"])
def test_review_spellings(spelling: str) -> None:
    assert loop.state(spelling, "") is ReturnState.FLAGGED


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("0.13", "USD", 13),
        ("12.5", "usd", 1250),
        (7, "EUR", 700),
        ("0.125", "USD", 12),  # sub-cent noise rounds half to even
        ("0.135", "USD", 14),
        ("5900", "JPY", 5900),  # yen have no minor unit
        ("5900.00", "JPY", 5900),
        ("1.250", "KWD", 1250),  # fils: three decimals
        ("1,000.00", "USD", None),
        ("NaN", "USD", None),
        (None, "USD", 0),
    ],
)
def test_money(value: object, currency: str, minor: int | None) -> None:
    if minor is None:
        with pytest.raises(MappingError, match="not a decimal amount"):
            loop.money(value, "price", currency)
    else:
        assert loop.money(value, "price", currency) == minor


def test_a_yen_return_keeps_its_amounts() -> None:
    payload = fixture("return_created")
    payload["currency"] = "JPY"
    payload["refund"] = "5900"
    for line in payload["line_items"]:
        line["price"] = "5900"
    mapped = loop.map_return(payload)
    assert mapped.currency == "JPY"
    assert mapped.refund_amount == 5900
    assert {item.unit_price for item in mapped.items} == {5900}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "no id"),
        ({"state": "teleported"}, "unknown Loop return state"),
        ({"customer": "", "customer_detail": {}}, "no customer email"),
        ({"created_at": "yesterday"}, "not an ISO-8601 time"),
    ],
)
def test_unmappable_payloads(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        loop.map_return({**fixture("return_created"), **change})
