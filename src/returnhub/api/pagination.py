"""Opaque keyset cursors: newest first, stable under concurrent inserts."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Annotated, Protocol

from fastapi import Query

from returnhub.domain.errors import FieldError, InvalidInput

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="next_cursor from the previous page")
]


class HasId(Protocol):
    id: int


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        tag, _, value = raw.partition(":")
        if tag != "k" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except ValueError:
        raise InvalidInput(
            "bad cursor",
            [
                FieldError(
                    "cursor", "invalid_cursor", "pass next_cursor from the previous page as is"
                )
            ],
        ) from None


def next_cursor(rows: Sequence[HasId], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    return base64.urlsafe_b64encode(f"k:{rows[-1].id}".encode()).decode().rstrip("=")
