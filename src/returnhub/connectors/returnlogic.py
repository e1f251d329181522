"""ReturnLogic: RMAs by customer email, Bearer auth.

EXPERIMENTAL. Only the auth scheme and the webhook behaviour are verified in the reference;
the RMA JSON shape (rlRmaId, workflowStatus, orderName, customerEmail, customerName, totals,
shippingLabel, rmaItems) comes from third-party clients and is UNVERIFIED, as are the status
names mapped below. So are the webhooks' body and event names: the docs only say that RMA
created, updated and deleted events exist and that their order is not guaranteed (harmless here:
services/sync never moves a return back to an older state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from returnhub.connectors.base import (
    Capability,
    ConnectorSpec,
    ExternalProfile,
    SearchQuery,
    lower_emails,
)
from returnhub.connectors.errors import DeliveryError, MappingError
from returnhub.connectors.http import send
from returnhub.connectors.mapping import money, required, timestamp
from returnhub.domain.external import ExternalItem, ExternalReturn
from returnhub.domain.lifecycle import ReturnState

SPEC = ConnectorSpec(
    key="returnlogic",
    display_name="ReturnLogic",
    capabilities=frozenset(
        {Capability.SEARCH_CUSTOMERS, Capability.PULL_RETURNS, Capability.RECEIVE_WEBHOOKS}
    ),
    settings=("returnlogic_api_key",),
    webhook_path="/webhooks/returnlogic",
)

# UNVERIFIED status vocabulary (a third-party client's normalisation).
STATES = {
    "requested": ReturnState.REQUESTED,
    "authorized": ReturnState.AUTHORIZED,
    "approved": ReturnState.AUTHORIZED,
    "in_transit": ReturnState.IN_TRANSIT,
    "delivered": ReturnState.RECEIVED,
    "partially_received": ReturnState.RECEIVED,
    "received": ReturnState.RECEIVED,
    "partially_processed": ReturnState.PROCESSED,
    "processed": ReturnState.PROCESSED,
    "complete": ReturnState.CLOSED,
    "canceled": ReturnState.CANCELLED,
    "cancelled": ReturnState.CANCELLED,
    "abandoned": ReturnState.EXPIRED,
    "rejected": ReturnState.REJECTED,
}


# UNVERIFIED event names: read after event_type() folds case and separators ("RMA_CREATED",
# "rma/created" and "rma.created" are one name).
RMA_EVENTS = frozenset({"rma.created", "rma.updated"})
RMA_DELETED = frozenset({"rma.deleted"})


def event_type(payload: Mapping[str, Any]) -> str:
    raw = payload.get("event") or payload.get("type") or payload.get("topic") or ""
    return str(raw).strip().lower().replace("_", ".").replace("/", ".")


def webhook_rma(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The RMA a webhook is about. UNVERIFIED shape: either the body itself or its ``data``."""
    data = payload.get("data")
    return data if isinstance(data, Mapping) else payload


def rma_id(rma: Mapping[str, Any]) -> str:
    rid = rma.get("rlRmaId") or rma.get("id")
    return str(rid) if rid not in (None, "") else ""


def lock_key(payload: Mapping[str, Any]) -> str | None:
    rid = rma_id(webhook_rma(payload))
    return f"returnlogic:rma:{rid}" if rid else None


def map_rma_event(payload: Mapping[str, Any]) -> ExternalReturn:
    return map_rma(webhook_rma(payload))


def map_rma_deleted(payload: Mapping[str, Any]) -> ExternalReturn:
    """A deleted RMA ends the return as cancelled, whatever it said before."""
    return replace(map_rma(webhook_rma(payload)), state=ReturnState.CANCELLED, deleted=True)


class ReturnLogicSystem:
    spec = SPEC

    def __init__(self, base_url: str, token: str, http: httpx.Client) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.http = http

    def rmas_for_email(self, email: str, timeout: float) -> list[dict[str, Any]]:
        response = send(
            self.http,
            "GET",
            f"{self.base}/rmas",
            params={"email": email},
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            timeout=timeout,
        )
        try:
            body = response.json()
        except ValueError:
            raise MappingError("ReturnLogic answered with something that is not JSON") from None
        rows = body.get("data", body.get("rmas", [])) if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise MappingError("ReturnLogic's RMA list is not an array")
        return [
            r
            for r in rows
            if isinstance(r, dict) and str(r.get("customerEmail", "")).lower() == email
        ]

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]:
        profiles = []
        for email in lower_emails(query.emails):
            rmas = self.rmas_for_email(email, timeout)
            if rmas:
                profiles.append(
                    ExternalProfile(
                        system="returnlogic",
                        external_id=email,
                        name=str(rmas[0].get("customerName") or ""),
                        emails=(email,),
                        order_names=tuple(
                            dict.fromkeys(str(r["orderName"]) for r in rmas if r.get("orderName"))
                        ),
                    )
                )
        return profiles

    def pull_returns(self, profile: ExternalProfile, timeout: float) -> list[ExternalReturn]:
        pulled = []
        for rma in self.rmas_for_email(profile.external_id.lower(), timeout):
            try:
                pulled.append(map_rma(rma))
            except DeliveryError:
                continue
        return pulled


def map_rma(rma: Mapping[str, Any]) -> ExternalReturn:
    """One mapping for RMAs pulled from the API and RMAs in webhooks."""
    rid = rma_id(rma)
    if not rid:
        raise MappingError("the ReturnLogic RMA has no rlRmaId")
    email = required(rma.get("customerEmail"), f"ReturnLogic RMA {rid} has no customerEmail")
    email = email.lower()
    order_name = required(rma.get("orderName"), f"ReturnLogic RMA {rid} has no orderName")
    status = str(rma.get("workflowStatus") or "").strip().lower()
    if status not in STATES:
        raise MappingError(f"unknown ReturnLogic workflowStatus {rma.get('workflowStatus')!r}")
    timeline = rma.get("timeline") or {}
    created = timestamp(timeline.get("createDate") or rma.get("createdAt"), "timeline.createDate")
    updated_raw = timeline.get("updateDate") or rma.get("updatedAt")
    label = rma.get("shippingLabel") or {}
    totals = rma.get("totals") or {}
    refund = (totals.get("refund") or {}).get("total") if isinstance(totals, Mapping) else None
    currency = str(rma.get("currency") or "USD").upper()
    items = []
    for i, item in enumerate(rma.get("rmaItems") or []):
        # One ExternalItem per unit, as every source maps them.
        items += [
            ExternalItem(
                sku=str(item.get("sku") or f"rl-{item.get('id', i)}"),
                title=str(item.get("name") or ""),
                variant=str(item.get("variantName") or ""),
                unit_price=money(item.get("price"), f"rmaItems.{i}.price", currency),
                reason=str(item.get("returnReasonDescription") or ""),
                comment=str(item.get("returnReasonComment") or ""),
            )
        ] * int(item.get("quantity") or 1)
    return ExternalReturn(
        source="returnlogic",
        external_id=rid,
        state=STATES[status],
        updated_at=timestamp(updated_raw, "timeline.updateDate") if updated_raw else None,
        created_at=created,
        order_name=order_name,
        customer_email=email,
        customer_name=str(rma.get("customerName") or ""),
        currency=currency,
        items=tuple(items),
        label_carrier=str(label.get("carrier") or "") if isinstance(label, Mapping) else "",
        label_tracking_number=str(label.get("trackingNumber") or "")
        if isinstance(label, Mapping)
        else "",
        refund_amount=(
            money(refund, "totals.refund.total", currency) if refund not in (None, "") else None
        ),
    )
