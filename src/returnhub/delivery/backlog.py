"""How far behind the worker is, and whether webhook intake should push back.

Every web process samples the inbox (events accepted but not yet applied: how many, and how
long the oldest has waited) from the database about once a second, so all processes agree
whichever worker applies the events. Past a limit (RETURNHUB_INTAKE_MAX_BACKLOG_EVENTS or
RETURNHUB_INTAKE_MAX_BACKLOG_SECONDS) intake answers 503 with Retry-After instead of accepting
events it cannot apply in time; Loop, Shopify and Standard Webhooks senders retry later. Intake
accepts again once the backlog is under 80 % of both limits, so it does not flap at the edge. For
the age limit, "under" means the events still waiting would all be applied within 80 % of it at
the rate the backlog shrinks while intake is closed: the oldest event's own age only falls once
everything queued before it is applied, which would keep intake closed for the whole drain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

import structlog
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import Table, func, select

from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent

log = structlog.get_logger(__name__)
RECOVER_AT = 0.8


@dataclass(frozen=True)
class Backlog:
    unapplied_events: int = 0
    oldest_unapplied_seconds: float = 0.0


def measure(db: Database, now: datetime) -> Backlog:
    with db.read_connection() as connection:
        count, oldest = connection.execute(_statement()).one()
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return Backlog(int(count), round(age, 3))


@cache
def _statement() -> Any:
    table = cast(Table, InboxEvent.__table__)
    return select(func.count(), func.min(table.c.received_at)).where(table.c.status == "received")


class BacklogMonitor:
    """Samples the backlog in a background thread and says whether intake is shedding."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.max_events = settings.intake_max_backlog_events
        self.max_seconds = settings.intake_max_backlog_seconds
        self.interval = settings.intake_backlog_check_seconds
        self.retry_after = settings.intake_retry_after_seconds
        self.latest = Backlog()
        self.shedding = False
        # The previous sample while shedding, for the rate the backlog shrinks at.
        self._previous: tuple[datetime, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        registry = registry or CollectorRegistry()
        self._gauge_shedding = Gauge(
            "returnhub_intake_shedding",
            "1 while webhook intake answers 503 because the backlog is over its limit",
            registry=registry,
        )
        self._gauge_events = Gauge(
            "returnhub_inbox_unapplied_events",
            "Webhook events accepted but not yet applied (this process's last sample)",
            registry=registry,
        )
        self._gauge_age = Gauge(
            "returnhub_inbox_oldest_unapplied_seconds",
            "How long the oldest accepted, unapplied webhook event has waited",
            registry=registry,
        )

    @property
    def enabled(self) -> bool:
        return self.max_events > 0 or self.max_seconds > 0

    def _over(self, backlog: Backlog, share: float, wait: float | None = None) -> bool:
        """Over ``share`` of a limit; ``wait``, when known, stands in for the oldest's age."""
        by_count = self.max_events > 0 and backlog.unapplied_events > self.max_events * share
        age = backlog.oldest_unapplied_seconds if wait is None else wait
        by_age = self.max_seconds > 0 and age > self.max_seconds * share
        return by_count or by_age

    def _expected_wait(self, now: datetime, backlog: Backlog) -> float | None:
        """Seconds until every waiting event is applied at the rate the backlog shrank since
        the last sample; None before there is a rate to go by."""
        previous, self._previous = self._previous, (now, backlog.unapplied_events)
        if previous is None:
            return None
        seconds = (now - previous[0]).total_seconds()
        drained = previous[1] - backlog.unapplied_events
        if seconds <= 0 or drained <= 0:
            return None
        return backlog.unapplied_events / (drained / seconds)

    def check(self) -> Backlog:
        """Take one sample and update the state; a log line and the gauge on every change."""
        now = self.clock()
        backlog = measure(self.db, now)
        self.latest = backlog
        self._gauge_events.set(backlog.unapplied_events)
        self._gauge_age.set(backlog.oldest_unapplied_seconds)
        if not self.enabled:
            return backlog
        if not self.shedding and self._over(backlog, 1.0):
            self.shedding = True
            self._previous = (now, backlog.unapplied_events)
            log.warning(
                "intake_shedding",
                unapplied_events=backlog.unapplied_events,
                oldest_unapplied_seconds=backlog.oldest_unapplied_seconds,
                max_events=self.max_events,
                max_seconds=self.max_seconds,
            )
        elif self.shedding and not self._over(
            backlog, RECOVER_AT, self._expected_wait(now, backlog)
        ):
            self.shedding = False
            self._previous = None
            log.info(
                "intake_accepting",
                unapplied_events=backlog.unapplied_events,
                oldest_unapplied_seconds=backlog.oldest_unapplied_seconds,
            )
        self._gauge_shedding.set(1 if self.shedding else 0)
        return backlog

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="backlog-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:
                # The database may be restarting: keep the last state, try again shortly.
                log.warning("backlog_not_measured", exc_info=True)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def describe(self) -> dict[str, Any]:
        return {
            "intake": "shedding" if self.shedding else "accepting",
            "unapplied_events": self.latest.unapplied_events,
            "oldest_unapplied_seconds": self.latest.oldest_unapplied_seconds,
        }
