"""History as an import source describes it (a CSV file, a Shopify bulk export, a Loop
backfill), after parsing and before it touches the ledger.

Sources map their records into these values; services/imports stores them in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from returnhub.domain.external import ExternalReturn
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.policy import Outcome


@dataclass(frozen=True)
class ImportedCustomer:
    # Normalised (lower-cased, valid): customers are matched by it.
    email: str
    name: str = ""
    # E.164, or empty.
    phone: str = ""


@dataclass(frozen=True)
class ImportedLine:
    sku: str
    title: str
    quantity: int
    # Minor units of the order's currency.
    unit_price: int
    variant: str = ""
    final_sale: bool = False


@dataclass(frozen=True)
class ImportedFulfillment:
    carrier: str
    tracking_number: str = ""
    shipped_at: datetime | None = None


@dataclass(frozen=True)
class ImportedOrder:
    name: str
    placed_at: datetime
    currency: str
    customer: ImportedCustomer
    lines: tuple[ImportedLine, ...]
    delivered_at: datetime | None = None
    shipping_zip: str = ""
    fulfillments: tuple[ImportedFulfillment, ...] = ()


@dataclass(frozen=True)
class ImportedReturnItem:
    sku: str
    quantity: int
    outcome: Outcome = Outcome.REFUND
    reason: str = ""
    comment: str = ""
    row: int = 0


@dataclass(frozen=True)
class ImportedReturn:
    """A return that names its order and items by the order's name and SKUs only: prices,
    titles, currency and customer are the ledger order's (the order must be there first)."""

    source: str
    external_id: str
    order_name: str
    state: ReturnState
    created_at: datetime
    items: tuple[ImportedReturnItem, ...]
    updated_at: datetime | None = None
    # A decimal in major units of the order's currency (which only the ledger knows), or "".
    refund_amount: str = ""
    label_carrier: str = ""
    label_tracking_number: str = ""
    # Where the return came from in the source, for problems found once it meets the ledger.
    row: int = 0


@dataclass(frozen=True)
class Problem:
    """Something wrong with one record: where it is (row and column, for files) and what to do.

    An error rejects the record it belongs to; a warning says what was left out of a record
    that was kept."""

    row: int
    column: str
    message: str
    warning: bool = False


@dataclass
class Counts:
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    invalid: int = 0

    def add(self, other: Counts) -> None:
        self.read += other.read
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.invalid += other.invalid


@dataclass
class Batch:
    """One chunk of a source: stored in one transaction together with ``checkpoint``, which says
    where the source resumes after it. ``position`` and ``read`` feed the progress bar."""

    checkpoint: dict[str, object]
    customers: list[ImportedCustomer] = field(default_factory=list)
    orders: list[ImportedOrder] = field(default_factory=list)
    returns: list[ImportedReturn] = field(default_factory=list)
    # Returns a source describes whole, prices and all (Loop's returns list), applied as the
    # returns sync applies them.
    synced_returns: list[ExternalReturn] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Records read (orders or returns, valid or not) and rejected in this chunk.
    read: int = 0
    invalid: int = 0
    position: int = 0
    # Which part of the source the chunk is from ("orders", "returns"), for the report.
    part: str = ""
