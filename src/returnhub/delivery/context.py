"""What every job handler is given, and the shape of a handler. Handlers raise DeliveryError
subclasses on failure; the worker switches on their class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.orm import Session

from returnhub.connectors.keepalive import KeepAlivePool
from returnhub.delivery.outbox import ClaimedJob
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.types import utcnow


@dataclass
class HandlerContext:
    db: Database
    settings: Settings
    http: httpx.Client
    clock: Callable[[], datetime] = field(default=utcnow)
    # Webhook deliveries, the highest-volume requests, go through a leaner keep-alive pool.
    posts: KeepAlivePool = field(init=False)

    def __post_init__(self) -> None:
        self.posts = KeepAlivePool(self.http, timeout=self.settings.outbound_timeout_seconds)


Handler = Callable[[HandlerContext, ClaimedJob], None]

Settle = Callable[[Session, Sequence[ClaimedJob]], None]
"""Records, inside the caller's transaction, that these jobs are done."""

BatchHandler = Callable[[HandlerContext, Sequence[ClaimedJob], Settle], list[ClaimedJob]]
"""Runs several claimed jobs of one kind together, recording those it completes through the
``Settle`` it is given in the same transaction as their effect; returns the jobs it left for
their one-by-one handler."""
