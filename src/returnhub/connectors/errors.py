"""The closed set of ways a call to another system (or a job) can fail, and what each means
for retrying.

Every connector (and the shared HTTP client) raises these, and so do job handlers; the worker
switches on the class only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class ErrorClass(StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CONFIGURATION = "configuration"
    CLIENT_ERROR = "client_error"
    MAPPING = "mapping"
    INTERNAL = "internal"


# Worth trying again later; everything else is permanent (dead at once).
RETRYABLE = frozenset(
    {
        ErrorClass.UNREACHABLE,
        ErrorClass.TIMEOUT,
        ErrorClass.RATE_LIMITED,
        ErrorClass.SERVER_ERROR,
        ErrorClass.INTERNAL,
    }
)


class DeliveryError(Exception):
    error_class: ErrorClass = ErrorClass.INTERNAL

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE


class Unreachable(DeliveryError):
    error_class = ErrorClass.UNREACHABLE


class Timeout(DeliveryError):
    error_class = ErrorClass.TIMEOUT


class RateLimited(DeliveryError):
    error_class = ErrorClass.RATE_LIMITED


class ServerError(DeliveryError):
    error_class = ErrorClass.SERVER_ERROR


class ConfigurationError(DeliveryError):
    """The other side refused our credentials (401/403): retrying cannot help until a person
    fixes the configuration, so the job is parked and the connector marked unhealthy."""

    error_class = ErrorClass.CONFIGURATION


class ClientError(DeliveryError):
    error_class = ErrorClass.CLIENT_ERROR


class MappingError(DeliveryError):
    """An inbound payload we cannot turn into ledger changes."""

    error_class = ErrorClass.MAPPING


def classify_status(status: int, body: str, retry_after: str | None) -> DeliveryError | None:
    """The error for an HTTP answer, or None for success (2xx)."""
    if 200 <= status < 300:
        return None
    snippet = body[:300]
    if status == 429:
        return RateLimited(f"429 Too Many Requests: {snippet}", retry_after=_seconds(retry_after))
    if status in (401, 403):
        return ConfigurationError(f"{status}: the receiver refused our credentials: {snippet}")
    if status in (408,):
        return Timeout(f"{status}: {snippet}")
    if 400 <= status < 500:
        return ClientError(f"{status}: {snippet}")
    return ServerError(f"{status}: {snippet}", retry_after=_seconds(retry_after))


def _seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
