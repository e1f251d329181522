"""Waiting out a database that went away: exponential backoff, one log line per change.

While the database is down every claim fails at once; retrying at the poll interval with a
traceback each time wrote 1.3 MB of logs a minute and hammered the server that was trying to
come back. Instead: wait ``base`` seconds after the first failure, then twice as long after
each further one, at most ``cap``; log once when it goes down and once when it is back.

Worked example (base 0.5 s, cap 30 s): attempts at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 61.5,
91.5 s ... two log lines for the whole outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from returnhub.store.write_health import summary

log = structlog.get_logger(__name__)


class Outage:
    def __init__(
        self,
        what: str,
        base: float,
        cap: float,
        clock: Callable[[], float] = time.monotonic,
        **context: object,
    ) -> None:
        self.what = what
        self.base = base
        self.cap = max(cap, base)
        self.clock = clock
        self.context = context
        self.failures = 0
        self._since = 0.0

    @property
    def down(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; the seconds to wait before the next attempt."""
        self.failures += 1
        delay: float = min(self.cap, self.base * 2.0 ** (self.failures - 1))
        if self.failures == 1:
            self._since = self.clock()
            log.error(
                f"{self.what}_unavailable",
                error=summary(exc),
                retrying_every_up_to_seconds=self.cap,
                **self.context,
            )
        return delay

    def succeeded(self) -> None:
        if self.failures:
            log.info(
                f"{self.what}_available_again",
                down_seconds=round(self.clock() - self._since, 1),
                failed_attempts=self.failures,
                **self.context,
            )
            self.failures = 0
