"""Allowlist entries (an order name or an email) that override return ineligibility."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.domain.contact import normalize_email
from returnhub.domain.errors import Conflict, FieldError, NotFound
from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id
from returnhub.services.commands import AllowlistIn
from returnhub.services.events import record_event
from returnhub.store.tables import AllowlistEntry, CustomerEmail, Order


def _normalized_value(kind: str, value: str) -> str:
    if kind == "email":
        return normalize_email(value, field="value")
    return value.strip()


def add_entry(session: Session, data: AllowlistIn, actor: str) -> AllowlistEntry:
    value = _normalized_value(data.kind, data.value)
    exists = session.scalar(
        select(AllowlistEntry).where(
            AllowlistEntry.kind == data.kind, AllowlistEntry.value == value
        )
    )
    if exists is not None:
        raise Conflict(
            "already allowlisted",
            [
                FieldError(
                    "value",
                    "duplicate",
                    f"{data.kind} {value} is already allowlisted ({exists.public_id})",
                    {"allowlist_id": exists.public_id},
                )
            ],
        )
    entry = AllowlistEntry(
        public_id=new_id(Prefix.ALLOWLIST),
        kind=data.kind,
        value=value,
        reason=data.reason,
        created_by=actor,
    )
    session.add(entry)
    session.flush()
    record_event(
        session, EventType.ALLOWLIST_ADDED, entry.public_id, {"kind": entry.kind, "value": value}
    )
    return entry


def list_entries(
    session: Session, kind: str | None = None, limit: int = 100
) -> list[AllowlistEntry]:
    query = select(AllowlistEntry).order_by(AllowlistEntry.id.desc()).limit(limit)
    if kind:
        query = query.where(AllowlistEntry.kind == kind)
    return list(session.scalars(query))


def delete_entry(session: Session, public_id: str) -> None:
    entry = session.scalar(select(AllowlistEntry).where(AllowlistEntry.public_id == public_id))
    if entry is None:
        raise NotFound(
            "no such allowlist entry",
            [FieldError("allowlist_id", "not_found", f"no allowlist entry with id {public_id!r}")],
        )
    session.delete(entry)
    record_event(
        session,
        EventType.ALLOWLIST_REMOVED,
        public_id,
        {"kind": entry.kind, "value": entry.value},
    )


def reason_for_order(session: Session, order: Order) -> str | None:
    """Why the order is allowlisted (naming the entry), or None."""
    emails = select(CustomerEmail.email).where(CustomerEmail.customer_id == order.customer_id)
    entry = session.scalar(
        select(AllowlistEntry)
        .where(
            ((AllowlistEntry.kind == "order") & (AllowlistEntry.value == order.name))
            | ((AllowlistEntry.kind == "email") & AllowlistEntry.value.in_(emails))
        )
        .order_by(AllowlistEntry.id)
        .limit(1)
    )
    return None if entry is None else describe(entry)


def describe(entry: AllowlistEntry) -> str:
    why = f": {entry.reason}" if entry.reason else ""
    return f"{entry.kind} {entry.value} is allowlisted ({entry.public_id}){why}"


def customer_entries(session: Session, customer_id: int) -> list[AllowlistEntry]:
    """Every entry that can apply to one customer (their order names, their emails), oldest
    first: one query for callers that need the reason for an order and the customer's history."""
    names = select(Order.name).where(Order.customer_id == customer_id)
    emails = select(CustomerEmail.email).where(CustomerEmail.customer_id == customer_id)
    return list(
        session.scalars(
            select(AllowlistEntry)
            .where(
                ((AllowlistEntry.kind == "order") & AllowlistEntry.value.in_(names))
                | ((AllowlistEntry.kind == "email") & AllowlistEntry.value.in_(emails))
            )
            .order_by(AllowlistEntry.id)
        )
    )


def reason_among(entries: list[AllowlistEntry], order: Order) -> str | None:
    """``reason_for_order`` over entries from ``customer_entries`` for the order's customer."""
    for entry in entries:
        if entry.kind == "email" or entry.value == order.name:
            return describe(entry)
    return None
