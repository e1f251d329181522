"""Returns, orders and customers as another system describes them, after mapping and before
they touch the ledger.

Connectors map their payloads into these values (pure functions); services/sync.py applies the
returns and labels, services/order_sync.py the orders, fulfilments and customers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome


@dataclass(frozen=True)
class ExternalItem:
    sku: str
    title: str
    unit_price: int
    quantity: int = 1
    variant: str = ""
    reason: str = ""
    parent_reason: str = ""
    comment: str = ""
    outcome: Outcome = Outcome.REFUND


@dataclass(frozen=True)
class ExternalExchangeItem:
    sku: str
    title: str = ""
    variant: str = ""
    quantity: int = 1


@dataclass(frozen=True)
class ExternalReturn:
    source: str
    external_id: str
    state: ReturnState
    # The source's own last-change time, or None where it sends none (Loop's edited_at is null
    # until someone edits the return in Loop): domain/convergence then orders by the lifecycle.
    updated_at: datetime | None
    created_at: datetime
    order_name: str
    customer_email: str
    currency: str
    customer_name: str = ""
    # As the source gives it; the ledger keeps it only if it reads as a valid number.
    customer_phone: str = ""
    items: tuple[ExternalItem, ...] = ()
    exchange_items: tuple[ExternalExchangeItem, ...] = ()
    label_carrier: str = ""
    label_tracking_number: str = ""
    label_status: str = ""
    # The label's own clock, where the return payload carries one (Loop's label_updated_at).
    label_updated_at: datetime | None = None
    status_page_url: str = ""
    refund_amount: int | None = None
    # Sources that report their refunds (Shopify) say whether and when it was issued; for the
    # others a processed or closed return counts as refunded.
    reports_refunds: bool = False
    refund_issued_at: datetime | None = None
    shipping_zip: str = ""
    # The source deleted the return: final, so it applies even when its stamp is not newer
    # (a deletion need not bump the source's own update time).
    deleted: bool = False
    # The customer's profile id in the source (Loop and ReturnLogic: the email; Shopify: the
    # Customer gid); empty means the email. Links to that profile decide whose order it is.
    customer_external_id: str = ""
    # Read from the source's API just now: its present state, which wins over anything held.
    current: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def profile_id(self) -> str:
        return self.customer_external_id or self.customer_email


@dataclass(frozen=True)
class ExternalLabel:
    source: str
    external_return_id: str
    carrier: str
    tracking_number: str
    label_status: str
    updated_at: datetime


@dataclass(frozen=True)
class ExternalCustomer:
    """A customer's profile in a source (Shopify's Customer): who an order belongs to, or the
    contact details a profile update brings."""

    source: str
    # The profile's id in the source (Shopify: the Customer gid); empty for a guest checkout.
    external_id: str
    email: str
    name: str = ""
    # As the source gives it; the ledger keeps it only if it reads as a valid number.
    phone: str = ""
    # The source's own last change of the profile; None where the payload carries none (the
    # customer embedded in an order), which never updates contact details.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ExternalOrderLine:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: int
    variant: str = ""


@dataclass(frozen=True)
class ExternalFulfillment:
    source: str
    external_id: str
    order_external_id: str
    carrier: str
    tracking_number: str
    # The shipment's status as the source says it (Shopify: in_transit, delivered, …).
    status: str
    shipped_at: datetime | None
    # When the source first reported it delivered, if it has.
    delivered_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class ExternalOrder:
    source: str
    external_id: str
    name: str
    customer: ExternalCustomer
    placed_at: datetime
    updated_at: datetime
    currency: str
    shipping_zip: str = ""
    lines: tuple[ExternalOrderLine, ...] = ()
    fulfillments: tuple[ExternalFulfillment, ...] = ()
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class NothingToApply:
    """A readable event that says nothing the ledger keeps; ``reason`` is shown in the inbox."""

    reason: str
