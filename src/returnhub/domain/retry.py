"""When to try a failed delivery again.

``RetryPolicy(delays=(30, 120, 600, 1800, 7200, 21600, 54000), jitter=0.2)`` allows
``len(delays) + 1`` = 8 attempts. After failed attempt *n* (1-based) the next one waits
``delays[n-1]`` seconds, scaled by a random factor in ``[1 - jitter, 1 + jitter]`` so that a
receiver coming back from an outage is not hit by every retry at the same instant.

Worked example with the defaults: a job first fails at 12:00:00. It is retried around 12:00:30,
12:02:30, 12:12:30, 12:42:30, 14:42:30, 20:42:30 and 11:42:30 the next day; if that eighth attempt
also fails (about 23.7 hours after the first), the job is dead. A receiver's ``Retry-After`` wins
over the schedule when it asks for longer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_DELAYS = (30, 120, 600, 1800, 7200, 21600, 54000)


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[int, ...] = DEFAULT_DELAYS
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_attempt_at(
        self, attempts: int, now: datetime, retry_after: float | None = None
    ) -> datetime | None:
        """When attempt ``attempts + 1`` may run, or None when ``attempts`` used them all."""
        if attempts >= self.max_attempts:
            return None
        base = self.delays[max(attempts, 1) - 1]
        delay = base * self.rng.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return now + timedelta(seconds=delay)

    @classmethod
    def parse(cls, spec: str, jitter: float = 0.2) -> RetryPolicy:
        """From a comma-separated list of seconds, as in RETURNHUB_OUTBOX_RETRY_DELAYS."""
        try:
            delays = tuple(int(part) for part in spec.split(",") if part.strip())
        except ValueError:
            raise ValueError(
                f"retry delays must be comma-separated whole seconds, got {spec!r}"
            ) from None
        if not delays or any(d <= 0 for d in delays):
            raise ValueError(f"retry delays must be positive seconds, got {spec!r}")
        return cls(delays=delays, jitter=jitter)
