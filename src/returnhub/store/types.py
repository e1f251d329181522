"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Always-aware UTC datetimes.

    SQLite has no time zone support and hands back naive values; PostgreSQL's timestamptz
    converts to the session zone. Storing UTC and re-attaching UTC on read gives both engines
    the same behaviour, and refuses naive datetimes on write so local time never sneaks in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; attach a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            # SQLite hands back text ('YYYY-MM-DD HH:MM:SS[.ffffff]'). One C call and one
            # replace, instead of SQLAlchemy's parse followed by process_result_value: every
            # read of a timestamp goes through here (a Gladly lookup reads a dozen).
            def parse(value: str | None) -> datetime | None:
                if value is None:
                    return None
                return datetime.fromisoformat(value).replace(tzinfo=UTC)

            return parse
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
