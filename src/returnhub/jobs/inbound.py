"""Applying stored inbound events (the ``inbox.apply`` job) to the ledger: one at a time, or
several in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.orm import Session

from returnhub.connectors.errors import DeliveryError, MappingError
from returnhub.connectors.registry import SPECS, missing_settings
from returnhub.connectors.webhook_sources import SOURCES, OrderChange, PullContext, WebhookSource
from returnhub.delivery import inbox
from returnhub.delivery.context import HandlerContext, Settle
from returnhub.delivery.outbox import ClaimedJob
from returnhub.domain.external import (
    ExternalCustomer,
    ExternalFulfillment,
    ExternalLabel,
    ExternalOrder,
    ExternalReturn,
    NothingToApply,
)
from returnhub.domain.untrusted import link_problem
from returnhub.jobs.registry import registry
from returnhub.services import linking, order_sync, sync
from returnhub.settings import Settings
from returnhub.store.dialects import ALL_OR_NOTHING

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pulled:
    """What a pull from the source gave: its return, or None when the event names none."""

    change: ExternalReturn | None


@registry.handler(inbox.APPLY_JOB)
def apply_inbox_event(ctx: HandlerContext, job: ClaimedJob) -> None:
    """Map a stored inbound event into the ledger, in one transaction with its status. An event
    that only names a return has it pulled from the source first, outside that transaction; so
    is the present state of a return whose event cannot be ordered against the ledger's."""
    inbox_id = str(job.payload["inbox_id"])
    try:
        # The job's connector is the event's source: the intake enqueues it so.
        source = SOURCES.get(job.connector)
        if source is None:
            raise MappingError(f"inbox event {inbox_id} is from no known source {job.connector!r}")
        pulled = _pull(ctx, source, inbox_id)
        with ctx.db.write() as session:
            undecided = _apply(session, ctx, source, inbox_id, pulled, may_refetch=True)
        if undecided is not None and source.refetch is not None:
            current = _map(source.refetch, undecided.external_id, _pull_context(ctx))
            # Nothing read back: the payload itself is applied, and marked stale.
            refetched = None if current is None else Pulled(current)
            with ctx.db.write() as session:
                _apply(session, ctx, source, inbox_id, refetched, may_refetch=False)
    except DeliveryError as exc:
        if not exc.retryable:
            # The ledger change rolled back; record why on the event itself, then let the job die.
            with ctx.db.write() as session:
                inbox.mark(session, inbox_id, inbox.InboxStatus.FAILED, exc.message, ctx.clock())
        raise


@registry.batch_handler(inbox.APPLY_JOB)
def apply_inbox_events(
    ctx: HandlerContext, jobs: Sequence[ClaimedJob], settle: Settle
) -> list[ClaimedJob]:
    """Apply several stored events in one transaction, their jobs recorded done in it, and
    return the jobs left to run one by one. One transaction and one flush for the batch, not
    one each: at a peak's rate the per-transaction work (begin, the unit of work's sort, the
    commit, a separate write for the job's outcome) cost as much as the apply itself.

    Optimistic: any failure rolls the whole batch back and hands every job back, so each one
    runs alone and a bad event fails by itself, saying why, exactly as it would have. Events
    that need the network (a pull from their source, or a re-read of an undecidable one) are
    handed back too: a transaction never waits on another system. So are all of Shopify's,
    orders included (its source has pullers), which also keeps an order's new customer, not yet
    flushed, from being invisible to a customers/update beside it. The claim never gives one
    batch two jobs of the same lock key, so no two events here are about the same return;
    two about the same new customer or order collide on a unique key and fall back."""
    batch: list[ClaimedJob] = []
    left: list[ClaimedJob] = []
    for job in jobs:
        (batch if _maps_locally(job) else left).append(job)
    if not batch:
        return left
    applied: list[ClaimedJob] = []
    try:
        # No autoflush: every read before a flush would write out the events before it.
        with ctx.db.write() as session, session.no_autoflush:
            session.info[ALL_OR_NOTHING] = True
            for job in batch:
                source = SOURCES[job.connector]
                inbox_id = str(job.payload["inbox_id"])
                if _apply(session, ctx, source, inbox_id, None, may_refetch=True) is None:
                    applied.append(job)
                else:
                    left.append(job)  # undecided: its source's present state is read alone
            session.flush()
            settle(session, applied)
    except Exception as exc:
        log.info("apply_batch_fell_back", jobs=len(batch), error=f"{type(exc).__name__}: {exc}")
        return list(jobs)
    return left


def _maps_locally(job: ClaimedJob) -> bool:
    source = SOURCES.get(job.connector)
    return source is not None and not source.pullers and "inbox_id" in job.payload


def _apply(
    session: Session,
    ctx: HandlerContext,
    source: WebhookSource,
    inbox_id: str,
    pulled: Pulled | None,
    *,
    may_refetch: bool,
) -> ExternalReturn | None:
    """Apply the event (or what was pulled for it) and mark it, in the caller's transaction.
    Returns the change, unapplied, when the payload cannot be ordered against the ledger,
    ``may_refetch`` and the source can read the return's present state; otherwise such an
    event is marked stale, saying why."""
    now = ctx.clock()
    skew = timedelta(seconds=ctx.settings.source_clock_skew_seconds)
    event = inbox.load(session, inbox_id)
    if event is None:
        raise MappingError(f"inbox event {inbox_id} does not exist")
    mapper = source.mappers.get(event.event_type)
    change: ExternalReturn | ExternalLabel | OrderChange
    if pulled is not None and pulled.change is not None:
        change = pulled.change
    elif pulled is not None:
        inbox.mark(session, inbox_id, inbox.InboxStatus.IGNORED, NAMES_NO_RETURN, now)
        return None
    elif mapper is not None:
        change = _map(mapper, inbox.payload_of(event))
    else:
        known = ", ".join(source.handled_types())
        inbox.mark(
            session,
            inbox_id,
            inbox.InboxStatus.IGNORED,
            f"event type {event.event_type!r} is not mapped (mapped types: {known or 'none'})",
            now,
        )
        return None
    if not isinstance(change, ExternalReturn | ExternalLabel):
        outcome = _apply_order_change(session, source, change, ctx.settings, now, skew)
        status = inbox.InboxStatus.IGNORED if outcome.ignored else inbox.InboxStatus.APPLIED
        inbox.mark(session, inbox_id, status, outcome.detail, now)
        return None
    change = _as_own(source, change, ctx.settings)
    change, dropped = _without_unsafe_link(change, ctx.settings)
    if isinstance(change, ExternalLabel):
        result = sync.apply_external_label(session, change, now, skew)
        detail = result.value
    else:
        result = sync.apply_external_return(session, change, now, skew)
        undecided = result is sync.SyncResult.UNDECIDED
        if undecided and may_refetch and source.refetch is not None:
            return change  # nothing was written; the caller reads the present state
        detail = _undecided(source, ctx.settings) if undecided else result.value
        if result in sync.APPLIED:
            # Customers linked to this profile see the change in their pulled data too.
            linking.refresh_linked(session, change, now)
    inbox.mark(session, inbox_id, inbox.InboxStatus.APPLIED, detail + dropped, now)
    return None


NAMES_NO_RETURN = "names no return (a refund of the order alone): nothing to apply"


def _apply_order_change(
    session: Session,
    source: WebhookSource,
    change: OrderChange,
    settings: Settings,
    now: datetime,
    skew: timedelta,
) -> order_sync.Outcome:
    if isinstance(change, NothingToApply):
        return order_sync.Outcome(change.reason, ignored=True)
    system = source.system(settings)
    if change.source != system:
        raise sync.SourceConflict(
            f"a {change.source} record sent by {source.display_name}, whose records belong to "
            f"{system!r}: a sender can only change its own"
        )
    if isinstance(change, ExternalOrder):
        return order_sync.apply_external_order(session, change, now, skew)
    if isinstance(change, ExternalFulfillment):
        return order_sync.apply_external_fulfillment(session, change, now, skew)
    assert isinstance(change, ExternalCustomer)
    return order_sync.apply_external_customer(session, change, now, skew)


def _undecided(source: WebhookSource, settings: Settings) -> str:
    spec = SPECS.get(source.name)
    missing = missing_settings(spec, settings) if spec and source.refetch else []
    hint = (
        f"; set {', '.join(missing)} so {source.display_name}'s present state is read instead"
        if missing
        else "; a newer stamp from the source (or its present state) settles it"
    )
    return (
        "stale: this event moves the return back in its lifecycle without a newer stamp, so "
        f"the ledger kept its state{hint}"
    )


def _as_own(
    source: WebhookSource, change: ExternalReturn | ExternalLabel, settings: Settings
) -> ExternalReturn | ExternalLabel:
    """The change under the verified source's own system name, whatever its payload claims."""
    system = source.system(settings)
    claimed = change.extra.get("system") if isinstance(change, ExternalReturn) else None
    if claimed is not None and claimed != system:
        setting = f" (RETURNHUB_{source.system_setting.upper()})" if source.system_setting else ""
        raise sync.SourceConflict(
            f"data.system {claimed!r} is not this sender's system {system!r}{setting}: a "
            "sender can only create or change its own returns; drop data.system or send "
            "the configured name"
        )
    return change if change.source == system else replace(change, source=system)


def _without_unsafe_link(
    change: ExternalReturn | ExternalLabel, settings: Settings
) -> tuple[ExternalReturn | ExternalLabel, str]:
    """The change without a status page URL that may not be a link (a ``javascript:`` URL
    would run in agents' and customers' pages), and what the inbox says about it. Only the
    URL is dropped: the sender's return is genuine, and refusing the whole event would only
    make the sender retry it forever."""
    if not isinstance(change, ExternalReturn) or not change.status_page_url:
        return change, ""
    problem = link_problem(change.status_page_url, allow_http=settings.is_demo)
    if problem is None:
        return change, ""
    return replace(change, status_page_url=""), f"; status_page_url dropped: it {problem}"


def _pull_context(ctx: HandlerContext) -> PullContext:
    return PullContext(ctx.settings, ctx.http, ctx.clock())


def _pull(ctx: HandlerContext, source: WebhookSource, inbox_id: str) -> Pulled | None:
    """The return the event names, fetched from its source; None when its source or type is
    not pulled (then nothing is read here: most sources map the stored payload)."""
    if not source.pullers:
        return None
    with ctx.db.read() as session:
        event = inbox.load(session, inbox_id)
        puller = source.pullers.get(event.event_type) if event is not None else None
        payload = inbox.payload_of(event) if event is not None else {}
    if puller is None:
        return None
    return Pulled(_map(puller, payload, _pull_context(ctx)))


def _map(translate: Callable[..., T], *args: Any) -> T:
    """A payload of an unexpected shape is a MappingError: the job dies with it, visibly."""
    try:
        return translate(*args)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MappingError(f"cannot map the payload: {type(exc).__name__}: {exc}") from exc
