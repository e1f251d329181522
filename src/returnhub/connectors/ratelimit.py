"""Client-side rate limits for the APIs we call (Gladly 10/s, Loop 300/min, Shopify's bucket).

``TokenBucket(rate, burst)`` holds at most ``burst`` tokens and gains ``rate`` tokens a second;
each request takes one. A caller that finds the bucket empty *reserves* the next token (the count
goes negative) and sleeps outside the lock until it is due, so concurrent worker threads queue up
in arrival order at exactly ``1 / rate`` apart instead of spinning or stampeding.

Worked example: ``TokenBucket(rate=10, burst=3)`` starting full. Three calls at t=0 return at
once; a fourth at t=0 waits 0.1 s, a fifth 0.2 s. After an idle second the bucket is full again
(3 tokens, never more).

The limit is per process: with several ``returnhub worker`` processes, divide the provider's
limit between them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1 (one request), got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._updated = clock()

    def acquire(self, timeout: float | None = None) -> bool:
        """Take one token, waiting for it if needed; False (nothing taken) when the wait would
        exceed ``timeout`` seconds."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = max(0.0, (1 - self._tokens) / self.rate)
            if timeout is not None and wait > timeout:
                return False
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return True


_shared: dict[str, TokenBucket] = {}
_shared_lock = threading.Lock()


def shared_bucket(key: str, rate: float, burst: float = 1.0) -> TokenBucket:
    """The process-wide bucket for ``key`` (e.g. one per Gladly organisation), so every worker
    thread and every job draws from the same budget. A changed rate or burst starts a new one."""
    with _shared_lock:
        bucket = _shared.get(key)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = _shared[key] = TokenBucket(rate, burst)
        return bucket
