"""Loop webhook payloads → ExternalReturn / ExternalLabel (pure; no I/O).

Quirks handled here, per the reference: ids are ints in some doc versions and strings in
others; money comes as decimal strings ("12.50"); "needs review" is spelled three ways; line
items are one per unit; `edited_at` is null for a return never edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from returnhub.connectors.errors import MappingError

# money and timestamp stay importable from here, where they were first written.
from returnhub.connectors.mapping import money as money
from returnhub.connectors.mapping import required
from returnhub.connectors.mapping import timestamp as timestamp
from returnhub.domain.external import (
    ExternalExchangeItem,
    ExternalItem,
    ExternalLabel,
    ExternalReturn,
)
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome

SOURCE = "loop"
RETURN_TRIGGERS = frozenset({"return.created", "return.updated", "return.closed"})
LABEL_TRIGGERS = frozenset({"label.created", "label.updated"})

# Loop keeps "open" until outcomes are processed; the label says how far the parcel got.
_OPEN_BY_LABEL = {
    "in_transit": ReturnState.IN_TRANSIT,
    "out_for_delivery": ReturnState.IN_TRANSIT,
    "delivered": ReturnState.RECEIVED,
}
_STATES = {
    "closed": ReturnState.CLOSED,
    "cancelled": ReturnState.CANCELLED,
    "canceled": ReturnState.CANCELLED,
    "expired": ReturnState.EXPIRED,
    "review": ReturnState.FLAGGED,
    "needs review": ReturnState.FLAGGED,
    "needs_review": ReturnState.FLAGGED,
}
_OUTCOMES = {o.value: o for o in Outcome}


def event_type(payload: Mapping[str, Any]) -> str:
    return str(payload.get("trigger") or payload.get("topic") or "")


def lock_key(payload: Mapping[str, Any]) -> str | None:
    """Return events of one return apply in order. Label events queue separately: a label that
    arrives before its return waits (retrying) without holding back the return's own create."""
    rid = payload.get("id")
    if rid in (None, ""):
        return None
    kind = "label" if event_type(payload) in LABEL_TRIGGERS else "return"
    return f"loop:{kind}:{rid}"


def state(raw: Any, label_status: str) -> ReturnState:
    name = str(raw or "").strip().lower()
    if name == "open":
        return _OPEN_BY_LABEL.get(label_status, ReturnState.AUTHORIZED)
    if name in _STATES:
        return _STATES[name]
    raise MappingError(f"unknown Loop return state {raw!r}")


def map_return(payload: Mapping[str, Any]) -> ExternalReturn:
    rid = payload.get("id")
    if rid in (None, ""):
        raise MappingError("the Loop return has no id")
    label_status = str(payload.get("label_status") or "").strip().lower()
    detail = payload.get("customer_detail") or {}
    email = required(
        payload.get("customer") or detail.get("email"), f"Loop return {rid} has no customer email"
    ).lower()
    order_name = required(payload.get("order_name"), f"Loop return {rid} has no order_name")
    created = timestamp(payload.get("created_at"), "created_at")
    edited = payload.get("edited_at")
    currency = str(payload.get("currency") or "USD").upper()
    items = []
    for i, line in enumerate(payload.get("line_items") or []):
        outcome = _OUTCOMES.get(str(line.get("outcome") or "").lower(), _return_outcome(payload))
        items.append(
            ExternalItem(
                sku=str(line.get("sku") or f"loop-{line.get('line_item_id', i)}"),
                title=str(line.get("title") or ""),
                unit_price=money(line.get("price"), f"line_items.{i}.price", currency),
                reason=str(line.get("return_reason") or ""),
                parent_reason=str(line.get("parent_return_reason") or ""),
                comment=str(line.get("return_comment") or ""),
                outcome=outcome,
            )
        )
    exchanges = tuple(
        ExternalExchangeItem(sku=str(x.get("sku") or ""), title=str(x.get("title") or ""))
        for x in payload.get("exchanges") or []
    )
    name = " ".join(
        p for p in (detail.get("first_name"), detail.get("last_name")) if isinstance(p, str) and p
    )
    address = payload.get("address") or {}
    return ExternalReturn(
        source=SOURCE,
        external_id=str(rid),
        state=state(payload.get("state"), label_status),
        # Loop sends no update time: edited_at is null unless the return was edited in Loop,
        # so it orders events only when present (domain/convergence does the rest).
        updated_at=timestamp(edited, "edited_at") if edited else None,
        created_at=created,
        order_name=order_name,
        customer_email=email,
        customer_name=name,
        currency=currency,
        items=tuple(items),
        exchange_items=exchanges,
        label_carrier=str(payload.get("carrier") or ""),
        label_tracking_number=str(payload.get("tracking_number") or ""),
        label_status=label_status,
        label_updated_at=(
            timestamp(payload.get("label_updated_at"), "label_updated_at")
            if payload.get("label_updated_at")
            else None
        ),
        status_page_url=str(payload.get("status_page_url") or ""),
        refund_amount=(
            money(payload.get("refund"), "refund", currency) if payload.get("refund") else None
        ),
        shipping_zip=str(address.get("zip") or "") if isinstance(address, Mapping) else "",
    )


def _return_outcome(payload: Mapping[str, Any]) -> Outcome:
    return _OUTCOMES.get(str(payload.get("outcome") or "").lower(), Outcome.REFUND)


def map_label(payload: Mapping[str, Any]) -> ExternalLabel:
    rid = payload.get("id")
    if rid in (None, ""):
        raise MappingError("the Loop label event has no return id")
    return ExternalLabel(
        source=SOURCE,
        external_return_id=str(rid),
        carrier=str(payload.get("carrier") or ""),
        tracking_number=str(payload.get("tracking_number") or ""),
        label_status=str(payload.get("label_status") or "").strip().lower(),
        updated_at=timestamp(payload.get("label_updated_at"), "label_updated_at"),
    )
