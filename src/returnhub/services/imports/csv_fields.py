"""The cells of an import file: each read into its value, or a Problem that says what is wrong
with it and how to fix it. Shared by the orders and returns formats."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from returnhub.domain.contact import normalize_email, normalize_phone
from returnhub.domain.errors import InvalidInput
from returnhub.domain.imported import Problem
from returnhub.domain.money import minor_units
from returnhub.services.imports.csv_file import Record, UnreadableFile

# What a spreadsheet would run as a formula: =, @, or a sign followed by one (CSV injection).
FORMULA = re.compile(r"^(?:[=@\t\r]|[+-][=@(A-Za-z])")
FORMULA_STARTS = frozenset("=@\t\r+-")
PLAIN_DECIMAL = re.compile(r"^\d{1,13}(?:\.\d{1,6})?$")
WHOLE_NUMBER = re.compile(r"^-?\d{1,9}$")
MAX_QUANTITY = 10_000
MAX_MINOR_UNITS = 10**12
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks differ; a day ahead is a time zone mistake at worst, more is a wrong date.
FUTURE_SLACK = timedelta(days=1)
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})
FALSE_WORDS = frozenset({"", "false", "no", "n", "0", "f"})


class CellError(ValueError):
    """A cell that cannot be used; the message says why and what to write instead."""


@dataclass(frozen=True)
class Columns:
    """Where each known column is in the file, from its header row."""

    index: dict[str, int]
    width: int
    ignored: tuple[str, ...]

    @classmethod
    def from_header(
        cls, header: Record, required: Sequence[str], optional: Sequence[str], what: str
    ) -> Columns:
        names = [name.strip().lower() for name in header.fields]
        seen: dict[str, int] = {}
        for position, name in enumerate(names, start=1):
            if name in seen and name:
                raise UnreadableFile(
                    f"{what}: column {name!r} appears twice (columns {seen[name]} and "
                    f"{position}); keep one"
                )
            seen[name] = position
        missing = [name for name in required if name not in seen]
        if missing:
            raise UnreadableFile(
                f"{what}: the header lacks {', '.join(missing)}; the first row must name the "
                f"columns: {', '.join(required)} (required) and {', '.join(optional)} (optional)"
            )
        known = set(required) | set(optional)
        return cls(
            index={name: seen[name] - 1 for name in known if name in seen},
            width=len(names),
            ignored=tuple(name or "(blank)" for name in names if name not in known),
        )

    def shape_problem(self, record: Record) -> Problem | None:
        if record.trouble:
            return Problem(record.row, "", record.trouble)
        if len(record.fields) != self.width:
            return Problem(
                record.row,
                "",
                f"{len(record.fields)} fields, but the header has {self.width}; check for a "
                "missing separator or an unquoted comma",
            )
        return None

    def values(self, record: Record) -> dict[str, str]:
        """Every known column's cell, stripped (a record of the header's width)."""
        fields = record.fields
        return {column: fields[position].strip() for column, position in self.index.items()}

    def get(self, record: Record, column: str) -> str:
        position = self.index.get(column)
        if position is None or position >= len(record.fields):
            return ""
        return record.fields[position].strip()


def text(value: str, limit: int, *, required: bool = False) -> str:
    if not value:
        if required:
            raise CellError("is empty; it is required")
        return value
    if len(value) > limit:
        raise CellError(f"is {len(value):,} characters long; at most {limit} fit")
    if value[0] in FORMULA_STARTS and FORMULA.match(value):
        raise CellError(
            f"starts like a spreadsheet formula ({value[:20]!r}); export the file with values, "
            "not formulas"
        )
    return value


def timestamp(value: str, now: datetime, *, required: bool = False) -> datetime | None:
    if not value:
        if required:
            raise CellError("is empty; it is required (e.g. 2024-03-01T14:30:00Z)")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CellError(
            f"{value[:40]!r} is not an ISO 8601 date-time; write it like 2024-03-01T14:30:00Z "
            "or 2024-03-01T14:30:00+02:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed < EARLIEST:
        raise CellError(f"{value!r} is before 2000; check the date")
    if parsed > now + FUTURE_SLACK:
        raise CellError(f"{value!r} is in the future; check the date and its time zone")
    return parsed.astimezone(UTC)


def quantity(value: str) -> int:
    if not WHOLE_NUMBER.match(value) or not 1 <= int(value) <= MAX_QUANTITY:
        raise CellError(f"{value[:20]!r}: write a whole number from 1 to {MAX_QUANTITY:,}")
    return int(value)


def plain_decimal(value: str) -> str:
    """An amount whose currency is not known yet, checked for its form only."""
    if not PLAIN_DECIMAL.match(value):
        raise CellError(
            f"{value[:20]!r}: write the amount as a plain decimal such as 12.50 (no currency "
            "symbol, sign, exponent or thousands separator)"
        )
    return value


def amount(value: str, currency: str) -> int:
    """A price in major units (12.50) → minor units of ``currency``."""
    plain_decimal(value)
    try:
        minor = minor_units(value, currency)
    except ValueError:
        raise CellError(f"{value!r} has more decimals than {currency} has") from None
    if minor > MAX_MINOR_UNITS:
        raise CellError(f"{value!r} is more than any price we accept")
    return minor


def currency_code(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise CellError(f"{value[:20]!r}: write the ISO 4217 code, e.g. USD")
    return value.upper()


def flag(value: str) -> bool:
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellError(f"{value[:20]!r}: write true or false (or leave it empty for false)")


def email(value: str) -> str:
    if not value:
        raise CellError("is empty; customers are matched by email, so it is required")
    if len(value) > 320:
        raise CellError("is longer than an email address can be")
    return _email(value)


@lru_cache(maxsize=65_536)
def _email(value: str) -> str:
    # Cached: a customer's email repeats on every row of every one of their orders.
    try:
        return normalize_email(value)
    except InvalidInput as exc:
        raise CellError(exc.errors[0].message) from None


@lru_cache(maxsize=65_536)
def phone(value: str) -> str:
    """E.164; CellError when the number cannot be read."""
    if len(value) > 40:
        raise CellError("is longer than a phone number can be")
    try:
        return normalize_phone(value)
    except InvalidInput as exc:
        raise CellError(exc.errors[0].message) from None
