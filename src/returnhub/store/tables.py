"""The ledger's tables. Internal integer keys join rows; ``public_id`` columns face the world."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from returnhub.store.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, but INTEGER on SQLite so the key stays the rowid alias (autoincrement).
Key = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # Lower-cased copy for case-insensitive search that uses an index on both engines.
    name_search: Mapped[str] = mapped_column(String(200), default="", index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Set on the first unlink; such a customer is never auto-linked again (as in Gladly).
    ever_unlinked: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Shopify's updated_at of the customer's profile when its contact details were last taken
    # (services/order_sync): an older customers/update never undoes a newer one.
    shopify_updated_at: Mapped[datetime | None]

    emails: Mapped[list[CustomerEmail]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerEmail.position"
    )
    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.position"
    )


class CustomerEmail(Base):
    __tablename__ = "customer_emails"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # One email identifies one customer: auto-linking and self-service rely on that.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    position: Mapped[int] = mapped_column(default=0)

    customer: Mapped[Customer] = relationship(back_populates="emails")

    __table_args__ = (Index(None, "customer_id"),)


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Not unique: households share landlines, and a phone alone never auto-links by itself.
    number: Mapped[str] = mapped_column(String(20), index=True)
    type: Mapped[str] = mapped_column(String(10), default="MOBILE")
    position: Mapped[int] = mapped_column(default=0)

    customer: Mapped[Customer] = relationship(back_populates="phones")

    __table_args__ = (
        Index(None, "customer_id"),
        UniqueConstraint("customer_id", "number"),
    )


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    placed_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    currency: Mapped[str] = mapped_column(String(3))
    shipping_zip: Mapped[str] = mapped_column(String(20), default="")
    # Where the order lives ("returnhub" for orders made here) and its id there: a source's
    # events find their order by these, never by its name alone.
    source_system: Mapped[str] = mapped_column(
        String(32), default="returnhub", server_default=text("'returnhub'")
    )
    external_id: Mapped[str | None] = mapped_column(String(100))
    # The source's own last-change time: older events never undo newer ones.
    source_updated_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.position"
    )
    fulfillments: Mapped[list[Fulfillment]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="Fulfillment.id"
    )

    __table_args__ = (UniqueConstraint("source_system", "external_id"),)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    final_sale: Mapped[bool] = mapped_column(Boolean, default=False)
    # The line's id in the order's source: two lines may share a SKU.
    external_id: Mapped[str | None] = mapped_column(String(100))

    order: Mapped[Order] = relationship(back_populates="lines")


class Fulfillment(Base):
    __tablename__ = "fulfillments"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64), default="")
    shipped_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(100))
    # The source's shipment status as it says it (Shopify: in_transit, delivered, failure …).
    status: Mapped[str] = mapped_column(String(32), default="", server_default=text("''"))
    delivered_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="fulfillments")

    __table_args__ = (UniqueConstraint("order_id", "external_id"),)


class Return(Base):
    __tablename__ = "returns"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    currency: Mapped[str] = mapped_column(String(3))

    refund_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_method: Mapped[str] = mapped_column(String(32), default="")
    refund_state: Mapped[str] = mapped_column(String(16), default="none")
    refund_issued_at: Mapped[datetime | None]

    label_carrier: Mapped[str] = mapped_column(String(64), default="")
    label_tracking_number: Mapped[str] = mapped_column(String(64), default="")
    label_status: Mapped[str] = mapped_column(String(32), default="")
    status_page_url: Mapped[str] = mapped_column(String(500), default="")
    label_updated_at: Mapped[datetime | None]

    source_system: Mapped[str] = mapped_column(String(32), default="returnhub")
    external_id: Mapped[str | None] = mapped_column(String(100))
    # The source system's own last-change time: older events never move the return backwards.
    source_updated_at: Mapped[datetime | None]

    received_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship()
    customer: Mapped[Customer] = relationship()
    items: Mapped[list[ReturnItem]] = relationship(
        back_populates="return_", cascade="all, delete-orphan", order_by="ReturnItem.id"
    )
    exchange_items: Mapped[list[ExchangeItem]] = relationship(
        cascade="all, delete-orphan", order_by="ExchangeItem.id"
    )
    notes: Mapped[list[ReturnNote]] = relationship(
        cascade="all, delete-orphan", order_by="ReturnNote.id"
    )
    timeline: Mapped[list[TimelineEntry]] = relationship(
        cascade="all, delete-orphan", order_by="TimelineEntry.id"
    )

    __table_args__ = (
        UniqueConstraint("source_system", "external_id"),
        Index(None, "customer_id", "created_at"),
    )


class ReturnItem(Base):
    __tablename__ = "return_items"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int]
    reason: Mapped[str] = mapped_column(String(100), default="")
    parent_reason: Mapped[str] = mapped_column(String(100), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    expected_condition: Mapped[str] = mapped_column(String(32), default="")
    outcome: Mapped[str] = mapped_column(String(20))

    return_: Mapped[Return] = relationship(back_populates="items")
    order_line: Mapped[OrderLine] = relationship()


class ExchangeItem(Base):
    __tablename__ = "exchange_items"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    variant: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int]


class ReturnNote(Base):
    __tablename__ = "return_notes"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelineEntry(Base):
    __tablename__ = "return_timeline"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainEvent(Base):
    """Facts for the outside world, written with the change; the delivery layer drains them."""

    __tablename__ = "domain_events"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)


class AllowlistEntry(Base):
    __tablename__ = "allowlist_entries"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "value"),)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the whole key: keys carry 256 random bits, so a slow hash adds nothing.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class InboxEvent(Base):
    """An inbound webhook exactly as received; durable before we answer 2xx."""

    __tablename__ = "inbox_events"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    # The source's own event id, or sha256 of the body where the source sends none.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100), default="")
    headers: Mapped[dict[str, Any]]
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("source", "dedupe_key"),)


# Written out (not bound) wherever it is used, so the planner can match the partial index.
OPEN_JOBS = "status IN ('pending', 'in_flight')"


class OutboxJob(Base):
    """One unit of outbound work. See delivery/outbox.py for the claim protocol."""

    __tablename__ = "outbox_jobs"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    connector: Mapped[str] = mapped_column(String(32), default="")
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    # Jobs sharing a lock key run one at a time, in id order (e.g. everything about one return).
    lock_key: Mapped[str | None] = mapped_column(String(200))
    # Enqueueing the same dedupe key twice is a no-op: the effect is scheduled once.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    error_class: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        # The claim walks this in order and stops at its limit (see outbox.claim).
        Index(None, "status", "next_attempt_at", "id"),
        # "Is an earlier job of this lock key still open?": only open jobs are indexed, so the
        # check costs the same however many finished jobs a key has behind it.
        Index(
            "ix_outbox_jobs_open_lock_key",
            "lock_key",
            "id",
            sqlite_where=text(OPEN_JOBS),
            postgresql_where=text(OPEN_JOBS),
        ),
        # At most one job per lock key is in flight: ordering holds even if a claim races.
        Index(
            "uq_outbox_jobs_lock_key_in_flight",
            "lock_key",
            unique=True,
            sqlite_where=text("status = 'in_flight' AND lock_key IS NOT NULL"),
            postgresql_where=text("status = 'in_flight' AND lock_key IS NOT NULL"),
        ),
    )


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # Standard Webhooks signing secret (whsec_…). Kept to sign every delivery; shown once.
    secret: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectorHealth(Base):
    __tablename__ = "connector_health"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    connector: Mapped[str] = mapped_column(String(32), unique=True)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    successes: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class CustomerLink(Base):
    """A ledger customer linked to their profile in another system."""

    __tablename__ = "customer_links"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    how: Mapped[str] = mapped_column(String(10))
    linked_by: Mapped[str] = mapped_column(String(200), default="")
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    # One external profile belongs to one ledger customer.
    __table_args__ = (UniqueConstraint("system", "external_id"),)


class LinkAudit(Base):
    """Every link and unlink: who, when, how. Kept after the link itself is gone."""

    __tablename__ = "link_audit"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(10))
    system: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    how: Mapped[str] = mapped_column(String(10), default="")
    actor: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PulledReturn(Base):
    """A return as a linked system reports it: the cache that help-desk lookups read."""

    __tablename__ = "pulled_returns"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    order_name: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]]
    source_updated_at: Mapped[datetime | None]
    pulled_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("customer_id", "system", "external_id"),)


# --- Warehouse and ERP: RAs, ASNs (EDI 943), receipts (EDI 944), decisions -------------------


class ReturnAuthorization(Base):
    """The ERP's return authorisation for one return: what the warehouse should receive, the ASN
    sent for it, and the decision taken once the goods arrived."""

    __tablename__ = "return_authorizations"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    # What the 3PL sees (943 W06-02) and echoes back (944 W17-04).
    number: Mapped[str] = mapped_column(String(40), unique=True)
    return_id: Mapped[int] = mapped_column(
        ForeignKey("returns.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    asn_control_number: Mapped[int | None] = mapped_column(BigInteger)
    asn_file: Mapped[str] = mapped_column(String(300), default="")
    asn_text: Mapped[str] = mapped_column(Text, default="")
    transmitted_at: Mapped[datetime | None]
    first_received_at: Mapped[datetime | None]
    # The 3PL said it received everything it will (a final 944, or a JSON receipt "complete").
    receipt_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str] = mapped_column(String(16), default="")
    decision_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decided_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    return_: Mapped[Return] = relationship()
    lines: Mapped[list[RaLine]] = relationship(
        cascade="all, delete-orphan", order_by="RaLine.position"
    )


class RaLine(Base):
    __tablename__ = "ra_lines"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    ra_id: Mapped[int] = mapped_column(
        ForeignKey("return_authorizations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int]
    expected_condition: Mapped[str] = mapped_column(String(32), default="")
    unit_price: Mapped[int] = mapped_column(BigInteger, default=0)


class WarehouseReceipt(Base):
    """One receipt from the warehouse, as received (EDI or JSON). Parked when its RA is unknown."""

    __tablename__ = "warehouse_receipts"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    ra_id: Mapped[int | None] = mapped_column(
        ForeignKey("return_authorizations.id", ondelete="CASCADE"), index=True
    )
    ra_number: Mapped[str] = mapped_column(String(40), index=True)
    # sha256 of the 944 sender + ISA/GS/ST control numbers, or of the JSON body.
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    receipt_number: Mapped[str] = mapped_column(String(64), default="")
    document: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[ReceiptLine]] = relationship(
        cascade="all, delete-orphan", order_by="ReceiptLine.id"
    )


class ReceiptLine(Base):
    __tablename__ = "receipt_lines"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    receipt_id: Mapped[int] = mapped_column(
        ForeignKey("warehouse_receipts.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    # The merchant's condition name (mapped from the 944 W13 code) and the raw codes.
    condition: Mapped[str] = mapped_column(String(32), default="")
    condition_code: Mapped[str] = mapped_column(String(8), default="")
    damage_code: Mapped[str] = mapped_column(String(8), default="")


class EdiControlNumber(Base):
    """The last interchange control number used per sender id (ISA13/GS06)."""

    __tablename__ = "edi_control_numbers"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


# --- Self-service guide: conversations and their messages ---------------------------------------


class Conversation(Base):
    """A self-service conversation (chat, email, SMS); ``state`` is the guide's memory."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(320), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    # The verified customer, once known (by the channel's email or phone, or order number + ZIP).
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[ConversationMessage]] = relationship(
        cascade="all, delete-orphan", order_by="ConversationMessage.id"
    )


class ConversationMessage(Base):
    """One turn: the customer's text, or the guide's reply with its intent, facts and trace."""

    __tablename__ = "conversation_messages"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(32), default="")
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trace: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The reply's quick replies, actions and handoff (guide messages only).
    reply: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Sign-in: agent sessions and failure counters --------------------------------------------


class AgentSession(Base):
    """A signed-in agent. The cookie holds a random token and this row only its sha256, so a
    session ends for good when the row says so (sign-out, key revocation, lifetimes)."""

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The API key's public id, "user:<name>" for a password sign-in, or the demo key's id.
    principal: Mapped[str] = mapped_column(String(240), index=True)
    # For a password sign-in, a fingerprint of the password hash it was made with: a changed
    # password (RETURNHUB_AGENT_USERS) no longer matches, which ends the session.
    credential: Mapped[str] = mapped_column(String(40), default="")
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Throttle(Base):
    """Failures counted per key ("signin-user:alice", "guide-order:1001", ...) for every
    process at once; ``blocked_until`` is when the key may try again."""

    __tablename__ = "throttles"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    key: Mapped[str] = mapped_column(String(400), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


# --- Imports: history brought in from files and other platforms ------------------------------


class ImportRun(Base):
    """One import (a CSV file, a Shopify bulk export, a Loop backfill) and where it stands.

    ``checkpoint`` is written in the same transaction as each chunk of the ledger it stored, so
    it names exactly what is in the ledger: a resume starts there, and never stores twice."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Key, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    # What was imported (file names, sizes and sha256, options): a resume must match them.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    invalid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index(None, "source", "status"),)
