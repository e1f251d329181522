"""Resolving public ids to internal keys, with the 404 every use case answers the same way."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
