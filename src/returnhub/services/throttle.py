"""Failure counters kept in the database, so every process of a deployment sees the same count.

A key names what is being guessed at or who is guessing ("signin-user:alice",
"signin-address:203.0.113.9", "guide-order:1001"). Each failure is counted against its keys; past
a free allowance the key is blocked for a delay that doubles with each further failure, and a
key with no failure for a while starts again. Attempts while blocked are refused without being
checked (so nothing is learnt from them) and without being counted (so the block does not grow
for ever and the owner of the key gets back in once it ends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from returnhub.store.dialects import dialect_of, upsert
from returnhub.store.tables import Throttle


@dataclass(frozen=True)
class Limit:
    """``free`` failures cost nothing; failure ``free + n`` blocks the key for
    ``base_seconds * 2**(n - 1)``, at most ``max_seconds``; ``forget_seconds`` after its last
    failure a key starts from zero.

    Example (free=5, base=1 s, max=900 s): failures 1-5 pass; the 6th blocks for 1 s, the 7th for
    2 s, the 8th for 4 s, ... the 15th for 512 s and every later one for 900 s (15 minutes), so
    a guesser gets a few dozen tries an hour instead of thousands a minute.
    """

    free: int
    base_seconds: float
    max_seconds: float
    forget_seconds: float

    def block_seconds(self, failures: int) -> float:
        over = failures - self.free
        if over <= 0:
            return 0.0
        # The exponent is capped so a long-lived counter cannot overflow the float.
        return float(min(self.max_seconds, self.base_seconds * 2 ** min(over - 1, 60)))


def wait_seconds(session: Session, keys: Iterable[str], now: datetime) -> float:
    """How long until every one of ``keys`` may try again (0 when none is blocked)."""
    wanted = list(keys)
    until = session.scalars(
        select(Throttle.blocked_until).where(Throttle.key.in_(wanted), Throttle.blocked_until > now)
    )
    return max(((u - now).total_seconds() for u in until if u is not None), default=0.0)


def fail(session: Session, key: str, limit: Limit, now: datetime) -> float:
    """Count a failure against ``key``; returns how long the key is now blocked for.

    One upsert, so concurrent failures in several processes each count (the row lock orders
    them on PostgreSQL, the write lock on SQLite).
    """
    stale = now - timedelta(seconds=limit.forget_seconds)
    table = Throttle.__table__
    statement = (
        upsert(dialect_of(session), table)
        .values(key=key, failures=1, last_failure_at=now, blocked_until=None)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((table.c.last_failure_at < stale, 1), else_=table.c.failures + 1),
                "last_failure_at": now,
            },
        )
        .returning(table.c.failures)
    )
    failures = int(session.execute(statement).scalar_one())
    blocked = limit.block_seconds(failures)
    if blocked:
        session.execute(
            update(Throttle)
            .where(Throttle.key == key)
            .values(blocked_until=now + timedelta(seconds=blocked))
        )
    return blocked


def clear(session: Session, key: str) -> None:
    """Forget ``key``'s failures (after a success: a typo now and then never adds up)."""
    session.execute(delete(Throttle).where(Throttle.key == key))


def retry_text(seconds: float) -> str:
    """``seconds`` rounded up for people: "12 seconds", "3 minutes"."""
    whole = max(1, int(-(-seconds // 1)))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{-(-whole // 60)} minutes"
