"""Validated inputs to the use cases; the REST API takes them as request bodies unchanged.

Type and range checks live here (pydantic answers 422 naming the field); rules that need the
database or the policy (duplicate emails, eligibility) live in the services.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from returnhub.domain.contact import PhoneType
from returnhub.domain.policy import Outcome

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$"),
    Field(description="ISO 4217 code, e.g. USD"),
]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="integer minor units (cents)")]
Quantity = Annotated[int, Field(gt=0, le=10_000)]


def _no_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


# Stated in the schema as what _no_blank checks after stripping: a character Python's
# str.strip keeps (JSON Schema's \s lacks the separators \x1c-\x1f and \x85).
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
Required200 = Annotated[
    Text200,
    AfterValidator(_no_blank),
    Field(json_schema_extra={"minLength": 1, "pattern": NOT_BLANK}),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PhoneIn(StrictModel):
    number: Annotated[str, StringConstraints(max_length=40)] = Field(
        description="E.164 preferred (+14155550123); national numbers use the default region"
    )
    type: PhoneType = PhoneType.MOBILE


class CustomerCreate(StrictModel):
    name: Text200 = ""
    emails: list[Annotated[str, StringConstraints(max_length=320)]] = Field(
        default_factory=list, max_length=20
    )
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=50
    )

    @model_validator(mode="after")
    def _identifiable(self) -> CustomerCreate:
        if not (self.name or self.emails or self.phones):
            raise ValueError("give at least a name, an email or a phone")
        return self


class CustomerUpdate(StrictModel):
    """Fields present replace what is stored; fields left out are kept."""

    name: Text200 | None = None
    emails: list[Annotated[str, StringConstraints(max_length=320)]] | None = Field(
        default=None, max_length=20
    )
    phones: list[PhoneIn] | None = Field(default=None, max_length=20)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] | None = Field(
        default=None, max_length=50
    )


class OrderLineIn(StrictModel):
    sku: Required200
    title: Required200
    variant: Text200 = ""
    quantity: Quantity
    unit_price: MinorUnits
    final_sale: bool = False


class FulfillmentIn(StrictModel):
    carrier: Required200
    tracking_number: Text200 = ""
    shipped_at: AwareDatetime | None = None


class OrderCreate(StrictModel):
    """Create an order for a known customer (``customer_id``) or import one with its customer
    (``customer``: found by its first email, created when new)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
                {"required": ["customer"], "properties": {"customer": {"type": "object"}}},
            ]
        }
    )

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = (
        Field(description="the store's order name, e.g. #1086")
    )
    customer_id: str | None = None
    customer: CustomerCreate | None = None
    placed_at: AwareDatetime
    delivered_at: AwareDatetime | None = None
    currency: Currency
    shipping_zip: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    lines: list[OrderLineIn] = Field(min_length=1, max_length=500)
    fulfillments: list[FulfillmentIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _one_customer(self) -> OrderCreate:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customer_id or customer")
        if self.delivered_at is not None and self.delivered_at < self.placed_at:
            raise ValueError("delivered_at is before placed_at")
        return self


class ReturnItemIn(StrictModel):
    order_line_id: str = Field(description="public id of the order line (lin_…)")
    quantity: Quantity
    outcome: Outcome
    reason: Text200 = ""
    parent_reason: Text200 = ""
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""
    expected_condition: Annotated[str, StringConstraints(max_length=32)] = ""


class ExchangeItemIn(StrictModel):
    sku: Required200
    title: Text200 = ""
    variant: Text200 = ""
    quantity: Quantity


class LabelIn(StrictModel):
    carrier: Text200 = ""
    tracking_number: Text200 = ""
    status: Annotated[str, StringConstraints(max_length=32)] = ""


class ReturnCreate(StrictModel):
    order_id: str = Field(description="public id of the order (ord_…)")
    items: list[ReturnItemIn] = Field(min_length=1, max_length=200)
    exchange_items: list[ExchangeItemIn] = Field(default_factory=list, max_length=200)
    label: LabelIn | None = None
    refund_method: Annotated[str, StringConstraints(max_length=32)] = ""
    status_page_url: Annotated[
        str,
        StringConstraints(max_length=500),
        # Stated for clients; the route's own check (domain/untrusted.link_problem) says why a
        # URL is refused. http only in demo mode.
        Field(
            description="the return's status page: an absolute https URL (http in demo mode), "
            "or empty",
            json_schema_extra={
                "pattern": r"^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-\[\]-~]*)?)?$"
            },
        ),
    ] = ""
    source_system: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    ] = "returnhub"
    external_id: Annotated[str, StringConstraints(max_length=100)] | None = None


class ActionIn(StrictModel):
    """Optional details for a state change."""

    message: Annotated[str, StringConstraints(max_length=2000)] = ""
    label: LabelIn | None = None


class NoteIn(StrictModel):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
    author: Text200 = ""


class RefundIn(StrictModel):
    """Record that the refund was issued; amount defaults to the computed refund."""

    amount: MinorUnits | None = None
    method: Annotated[str, StringConstraints(max_length=32)] = ""
    issued_at: AwareDatetime | None = None


class AllowlistIn(StrictModel):
    kind: Annotated[str, StringConstraints(pattern=r"^(order|email)$")] = Field(
        description="order (an order name such as #1086) or email"
    )
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""


__all__ = [
    "ActionIn",
    "AllowlistIn",
    "CustomerCreate",
    "CustomerUpdate",
    "ExchangeItemIn",
    "FulfillmentIn",
    "LabelIn",
    "NoteIn",
    "OrderCreate",
    "OrderLineIn",
    "PhoneIn",
    "RefundIn",
    "ReturnCreate",
    "ReturnItemIn",
]
