"""Whether this process's writes have been failing, for readiness.

A database can answer ``SELECT 1`` while every write fails (a full disk, a read-only or
out-of-space volume): readiness must not say ready then. Each failed write transaction is
recorded here (cheap: no extra query, no probe write) and ``/readyz`` reports not ready while a
failure is more recent than ``window`` seconds. Lock timeouts and deadlocks are contention, not
storage failures, and bad input is the caller's: neither counts, so no request can take the
node out of rotation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError

DEFAULT_WINDOW_SECONDS = 30.0
# SQLSTATE classes of contention on PostgreSQL: 40 (serialization failure, deadlock), 55P03
# (lock not available).
CONTENTION_SQLSTATES = ("40", "55P03")


@dataclass(frozen=True)
class WriteFailure:
    seconds_ago: float
    error: str


def is_storage_failure(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if sqlstate.startswith(CONTENTION_SQLSTATES):
        return False
    message = str(exc.orig).lower()
    return "database is locked" not in message and "database is busy" not in message


def summary(exc: BaseException) -> str:
    """One line naming the error, for logs and readiness (never a traceback)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first[:200]}"


class WriteHealth:
    def __init__(
        self,
        window: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, str] | None = None

    def record(self, exc: BaseException) -> None:
        if is_storage_failure(exc):
            with self._lock:
                self._last = (self.clock(), summary(exc))

    def recent_failure(self) -> WriteFailure | None:
        with self._lock:
            last = self._last
        if last is None:
            return None
        ago = self.clock() - last[0]
        return WriteFailure(ago, last[1]) if ago < self.window else None
