"""Resolving public ids to internal keys, with the 404 every use case answers the same way."""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from returnhub.domain.errors import FieldError, NotFound
from returnhub.store.tables import Customer, Order, Return

Model = type[Customer] | type[Order] | type[Return]


def not_found(field: str, noun: str, public_id: str) -> NotFound:
    message = f"no {noun} with id {public_id!r}"
    return NotFound(message, [FieldError(field, "not_found", message)])


def internal_id(session: Session, model: Model, public_id: str, field: str, noun: str) -> int:
    key = session.scalar(select(model.id).where(model.public_id == public_id))
    if key is None:
        raise not_found(field, noun, public_id)
    return key


def get_customer(session: Session, public_id: str) -> Customer:
    """The customer with their emails and phones, or the 404 every use case answers."""
    customer = session.scalar(
        select(Customer)
        .where(Customer.public_id == public_id)
        .options(selectinload(Customer.emails), selectinload(Customer.phones))
    )
    if customer is None:
        raise not_found("customer_id", "customer", public_id)
    return customer


def name_pattern(text: str) -> str:
    """The LIKE pattern for a case-insensitive substring match on the customer's name (see
    ``name_like``); LIKE wildcards in ``text`` are matched literally."""
    needle = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{needle}%"


def name_like(pattern: str | BindParameter[str]) -> ColumnElement[bool]:
    """``name_search LIKE pattern`` with ``name_pattern``'s escape character; the pattern may
    be a bound parameter of a prepared statement."""
    return Customer.name_search.like(pattern, escape="\\")


def name_contains(text: str) -> ColumnElement[bool]:
    return name_like(name_pattern(text))
