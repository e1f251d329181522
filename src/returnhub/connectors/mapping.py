"""Helpers every connector's payload mapping shares (pure; no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from returnhub.delivery.errors import MappingError

__all__ = ["money", "required", "timestamp"]


def money(value: Any, field: str) -> int:
    """Decimal string (or number) in major units → integer minor units, exactly."""
    if value in (None, ""):
        return 0
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{field} is not a decimal amount: {value!r}") from None
    return int((amount * 100).to_integral_value())


def timestamp(value: Any, field: str) -> datetime:
    if not value:
        raise MappingError(f"{field} is missing")
    text = str(value).strip().replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{field} is not an ISO-8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def required(value: Any, message: str) -> str:
    """The value as stripped text; MappingError(message) when there is none."""
    text = str(value or "").strip()
    if not text:
        raise MappingError(message)
    return text
