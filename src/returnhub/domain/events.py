"""Domain event types. Each is written in the same transaction as the change it describes;
the delivery layer drains them to webhooks, connectors and the warehouse."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    ORDER_CREATED = "order.created"
    RETURN_CREATED = "return.created"
    RETURN_STATE_CHANGED = "return.state_changed"
    RETURN_NOTE_ADDED = "return.note_added"
    RETURN_REFUND_ISSUED = "return.refund_issued"
    RETURN_LABEL_UPDATED = "return.label_updated"
    ALLOWLIST_ADDED = "allowlist.added"
    ALLOWLIST_REMOVED = "allowlist.removed"
