"""What each kind of outbox job does. Handlers raise DeliveryError subclasses on failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx

from returnhub.connectors.keepalive import KeepAlivePool
from returnhub.connectors.webhook_sources import SOURCES, PullContext
from returnhub.delivery import inbox
from returnhub.delivery.errors import DeliveryError, MappingError
from returnhub.delivery.outbox import ClaimedJob
from returnhub.domain.external import ExternalLabel, ExternalReturn
from returnhub.services import linking, sync
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
T = TypeVar("T")


def apply_inbox_event(ctx: HandlerContext, job: ClaimedJob) -> None:
    """Map a stored inbound event into the ledger, in one transaction with its status. An event
    that only names a return has it pulled from the source first, outside that transaction."""
    inbox_id = str(job.payload["inbox_id"])
    try:
        pulled = _pull(ctx, job.connector, inbox_id)
        with ctx.db.write() as session:
            event = inbox.load(session, inbox_id)
            if event is None:
                raise MappingError(f"inbox event {inbox_id} does not exist")
            source = SOURCES.get(event.source)
            mapper = source.mappers.get(event.event_type) if source else None
            change: ExternalReturn | ExternalLabel
            if pulled is not None:
                change = pulled
            elif mapper is not None:
                change = _map(mapper, inbox.payload_of(event))
            else:
                known = ", ".join(source.handled_types()) if source else ""
                inbox.mark(
                    session,
                    inbox_id,
                    inbox.InboxStatus.IGNORED,
                    f"event type {event.event_type!r} is not mapped "
                    f"(mapped types: {known or 'none'})",
                    ctx.clock(),
                )
                return
            if isinstance(change, ExternalLabel):
                result = sync.apply_external_label(session, change)
            else:
                result = sync.apply_external_return(session, change, ctx.clock())
                # Customers linked to this profile see the change in their pulled data too.
                linking.refresh_linked(session, change.source, change.customer_email)
            inbox.mark(session, inbox_id, inbox.InboxStatus.APPLIED, result.value, ctx.clock())
    except DeliveryError as exc:
        if not exc.retryable:
            # The ledger change rolled back; record why on the event itself, then let the job die.
            with ctx.db.write() as session:
                inbox.mark(session, inbox_id, inbox.InboxStatus.FAILED, exc.message, ctx.clock())
        raise


def _pull(ctx: HandlerContext, source_name: str, inbox_id: str) -> ExternalReturn | None:
    """The return the event names, fetched from its source; None when its source or type is
    not pulled (then nothing is read here: most sources map the stored payload)."""
    source = SOURCES.get(source_name)
    if source is None or not source.pullers:
        return None
    with ctx.db.read() as session:
        event = inbox.load(session, inbox_id)
        puller = source.pullers.get(event.event_type) if event is not None else None
        payload = inbox.payload_of(event) if event is not None else {}
    if puller is None:
        return None
    return _map(puller, payload, PullContext(ctx.settings, ctx.http, ctx.clock()))


def _map(translate: Callable[..., T], *args: Any) -> T:
    """A payload of an unexpected shape is a MappingError: the job dies with it, visibly."""
    try:
        return translate(*args)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MappingError(f"cannot map the payload: {type(exc).__name__}: {exc}") from exc


def default_handlers() -> dict[str, Handler]:
    from returnhub.delivery.gladly_activity import ACTIVITY_JOB, post_activity
    from returnhub.delivery.linking_jobs import autolink, pull
    from returnhub.delivery.warehouse_jobs import handlers as warehouse_handlers
    from returnhub.delivery.webhook_delivery import DELIVER_JOB, deliver_webhook
    from returnhub.services.linking import AUTOLINK_JOB, PULL_JOB

    return {
        inbox.APPLY_JOB: apply_inbox_event,
        DELIVER_JOB: deliver_webhook,
        ACTIVITY_JOB: post_activity,
        AUTOLINK_JOB: autolink,
        PULL_JOB: pull,
        **warehouse_handlers(),
    }
