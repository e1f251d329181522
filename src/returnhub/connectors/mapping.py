"""Helpers every connector's payload mapping shares (pure; no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from returnhub.connectors.errors import MappingError
from returnhub.domain.money import minor_units

__all__ = ["money", "required", "timestamp"]


def money(value: Any, field: str, currency: str) -> int:
    """Decimal string (or number) in major units of ``currency`` → integer minor units; sub-unit
    noise rounds half to even, as these sources compute some amounts (tax shares) themselves."""
    if value in (None, ""):
        return 0
    try:
        return minor_units(str(value), currency, round_excess=True)
    except ValueError:
        raise MappingError(f"{field} is not a decimal amount: {value!r}") from None


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
