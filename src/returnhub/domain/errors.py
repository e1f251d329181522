"""Errors the domain and the services raise; the API maps each class to one HTTP status."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with the input: where (dotted path), a stable code, and what to fix."""

    field: str
    code: str
    message: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message, **self.extra}


class DomainError(Exception):
    """Base class; ``errors`` is what the API returns in its ``errors`` list."""

    code = "error"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or [FieldError(field="", code=self.code, message=message)]


class InvalidInput(DomainError):
    """The request is well-formed but its values break a rule (HTTP 422)."""

    code = "invalid"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The request clashes with the current state, e.g. a duplicate email (HTTP 409)."""

    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, state: str, action: str, allowed: list[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (the return is final)"
        message = f"cannot {action} a return that is {state}; allowed from {state}: {allowed_text}"
        super().__init__(
            message,
            [
                FieldError(
                    field="action",
                    code=self.code,
                    message=message,
                    extra={"state": state, "allowed_actions": allowed},
                )
            ],
        )
        self.state = state
        self.action = action
        self.allowed = allowed
