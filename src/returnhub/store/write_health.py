"""Whether this process's writes have been failing, for readiness.

A database can answer ``SELECT 1`` while every write fails (a full disk, a read-only or
out-of-space volume): readiness must not say ready then. Each failed write transaction is
recorded here (cheap: no extra query, no probe write) and ``/readyz`` reports not ready while a
storage failure is more recent than ``window`` seconds. Lock timeouts and deadlocks are
contention, and bad input is the caller's: neither counts, so no request can take the node out
of rotation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

DEFAULT_WINDOW_SECONDS = 30.0
# PostgreSQL SQLSTATEs of a server that is up but cannot write: class 53 (insufficient
# resources: disk full, out of memory), class 58 (system error: I/O error), 25006 (read-only
# transaction, e.g. a standby or a volume remounted read-only).
STORAGE_SQLSTATES = ("53", "58", "25006")
# SQLite's words for the same (SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY).
STORAGE_MESSAGES = ("database or disk is full", "disk i/o error", "readonly database")


@dataclass(frozen=True)
class WriteFailure:
    seconds_ago: float
    error: str


def is_storage_failure(exc: BaseException) -> bool:
    """A failure of the storage under a database that still answers. Not a lost connection
    (the database is down: readiness pings for that, and it must be ready again as soon as
    the database is back), not contention (lock timeouts, deadlocks), not bad input."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if sqlstate:
        return sqlstate.startswith(STORAGE_SQLSTATES)
    message = str(exc.orig).lower()
    return any(words in message for words in STORAGE_MESSAGES)


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
