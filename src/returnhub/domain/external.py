"""A return as another system describes it, after mapping and before it touches the ledger.

Connectors map their payloads into these values (pure functions); services/sync.py applies them.
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
