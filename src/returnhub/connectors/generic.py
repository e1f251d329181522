"""The generic source: any system posting returns in returnhub's own shape, signed with
Standard Webhooks. Body: ``{"type": "return.upsert", "data": {...GenericReturn...}}``.

The sender can only touch its own returns: their system name is the deployment's setting
(RETURNHUB_GENERIC_SOURCE_SYSTEM), never the payload's. A ``data.system`` that names another
system is refused where the event is applied (jobs/inbound), which knows the setting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from returnhub.connectors.errors import MappingError
from returnhub.domain.external import ExternalExchangeItem, ExternalItem, ExternalReturn
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome

SOURCE = "generic"
RETURN_TYPES = frozenset({"return.upsert"})


class GenericItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sku: str = Field(min_length=1)
    title: str = ""
    variant: str = ""
    unit_price: int = Field(ge=0, description="minor units")
    quantity: int = Field(default=1, gt=0)
    reason: str = ""
    parent_reason: str = ""
    comment: str = ""
    outcome: Outcome = Outcome.REFUND


class GenericExchange(BaseModel):
    sku: str
    title: str = ""
    variant: str = ""
    quantity: int = Field(default=1, gt=0)


class GenericReturn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Optional; when present it must be the configured system name (checked on apply).
    system: str | None = Field(default=None, max_length=64)
    id: str = Field(min_length=1, max_length=100)
    state: ReturnState
    updated_at: AwareDatetime
    created_at: AwareDatetime
    order_name: str = Field(min_length=1)
    customer_email: str = Field(min_length=3)
    customer_name: str = ""
    # The customer's id in the sending system; the email stands in when it has none.
    customer_id: str = Field(default="", max_length=200)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    items: list[GenericItem] = Field(default_factory=list)
    exchange_items: list[GenericExchange] = Field(default_factory=list)
    label_carrier: str = ""
    label_tracking_number: str = ""
    label_status: str = ""
    status_page_url: str = ""
    refund_amount: int | None = Field(default=None, ge=0)


def event_type(payload: Mapping[str, Any]) -> str:
    return str(payload.get("type") or "")


def lock_key(payload: Mapping[str, Any]) -> str | None:
    data = payload.get("data")
    if isinstance(data, Mapping) and data.get("id"):
        return f"{SOURCE}:return:{data['id']}"
    return None


def map_return(payload: Mapping[str, Any]) -> ExternalReturn:
    try:
        data = GenericReturn.model_validate(payload.get("data"))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise MappingError(f"data is not a valid return: {problems}") from None
    created: datetime = data.created_at
    return ExternalReturn(
        source=SOURCE,
        external_id=data.id,
        state=data.state,
        updated_at=data.updated_at,
        created_at=created,
        order_name=data.order_name,
        customer_email=data.customer_email.strip().lower(),
        customer_name=data.customer_name,
        currency=data.currency,
        items=tuple(
            ExternalItem(
                sku=i.sku,
                title=i.title,
                variant=i.variant,
                unit_price=i.unit_price,
                reason=i.reason,
                parent_reason=i.parent_reason,
                comment=i.comment,
                outcome=i.outcome,
            )
            for i in data.items
            for _ in range(i.quantity)
        ),
        exchange_items=tuple(
            ExternalExchangeItem(sku=x.sku, title=x.title, variant=x.variant, quantity=x.quantity)
            for x in data.exchange_items
        ),
        label_carrier=data.label_carrier,
        label_tracking_number=data.label_tracking_number,
        label_status=data.label_status,
        status_page_url=data.status_page_url,
        refund_amount=data.refund_amount,
        customer_external_id=data.customer_id,
        extra={"system": data.system} if data.system is not None else {},
    )
