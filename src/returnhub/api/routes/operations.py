"""Operating the delivery spine: outbox jobs, inbox events, subscriptions, connector health."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from returnhub.api.deps import Admin
from returnhub.api.pagination import Cursor, Limit, decode_cursor, next_cursor
from returnhub.api.schemas import Page
from returnhub.delivery import health, inbox, outbox
from returnhub.delivery.inbox import InboxStatus
from returnhub.delivery.outbox import JobStatus
from returnhub.domain.errors import Conflict, FieldError
from returnhub.runtime import Context
from returnhub.services import subscriptions
from returnhub.services.lookup import not_found
from returnhub.store.tables import InboxEvent, OutboxJob, WebhookSubscription

router = APIRouter(prefix="/api/v1", tags=["operations"])


class JobOut(BaseModel):
    id: str
    kind: str
    connector: str
    status: JobStatus
    attempts: int
    next_attempt_at: datetime
    lease_expires_at: datetime | None
    lock_key: str | None
    dedupe_key: str | None
    last_error: str
    error_class: str
    payload: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


class JobList(Page):
    data: list[JobOut]


class ReplayOut(BaseModel):
    replayed: list[str]


class InboxOut(BaseModel):
    id: str
    source: str
    event_type: str
    dedupe_key: str
    status: InboxStatus
    detail: str
    received_at: datetime
    processed_at: datetime | None


class InboxList(Page):
    data: list[InboxOut]


class SubscriptionIn(BaseModel):
    # Checked by services.subscriptions (with errors that name what to fix); stated here.
    url: str = Field(
        max_length=2000,
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\t\\r\\n]"},
    )
    event_types: list[str] = Field(
        min_length=1,
        max_length=50,
        json_schema_extra={"items": {"type": "string", "enum": [*subscriptions.SUBSCRIBABLE, "*"]}},
    )
    description: str = Field(default="", max_length=500)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime
    secret: str | None = Field(
        default=None, description="Standard Webhooks signing secret; returned only on creation"
    )


class SubscriptionList(BaseModel):
    data: list[SubscriptionOut]


class ConnectorHealthOut(BaseModel):
    connector: str
    healthy: bool
    successes: int
    failures: int
    consecutive_failures: int
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str


class HealthList(BaseModel):
    data: list[ConnectorHealthOut]


def job_out(job: OutboxJob) -> JobOut:
    return JobOut(
        id=job.public_id,
        kind=job.kind,
        connector=job.connector,
        status=JobStatus(job.status),
        attempts=job.attempts,
        next_attempt_at=job.next_attempt_at,
        lease_expires_at=job.lease_expires_at,
        lock_key=job.lock_key,
        dedupe_key=job.dedupe_key,
        last_error=job.last_error,
        error_class=job.error_class,
        payload=job.payload,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def inbox_out(event: InboxEvent) -> InboxOut:
    return InboxOut(
        id=event.public_id,
        source=event.source,
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        status=InboxStatus(event.status),
        detail=event.detail,
        received_at=event.received_at,
        processed_at=event.processed_at,
    )


def subscription_out(s: WebhookSubscription, *, secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.public_id,
        url=s.url,
        event_types=list(s.event_types),
        description=s.description,
        active=s.active,
        created_at=s.created_at,
        secret=secret,
    )


@router.get("/outbox", response_model=JobList, summary="List outbox jobs")
def list_jobs(
    ctx: Context,
    _: Admin,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> JobList:
    with ctx.db.read() as session:
        rows = outbox.list_jobs(
            session, status=status, kind=kind, limit=limit, after=decode_cursor(cursor)
        )
        return JobList(data=[job_out(j) for j in rows], next_cursor=next_cursor(rows, limit))


@router.get("/outbox/{job_id}", response_model=JobOut)
def get_job(job_id: str, ctx: Context, _: Admin) -> JobOut:
    with ctx.db.read() as session:
        job = outbox.get_job(session, job_id)
        if job is None:
            raise not_found("job_id", "outbox job", job_id)
        return job_out(job)


@router.post("/outbox/replay", response_model=ReplayOut, summary="Replay every dead job")
def replay_all(ctx: Context, _: Admin) -> ReplayOut:
    with ctx.db.write() as session:
        return ReplayOut(replayed=outbox.replay(session, None, ctx.clock()))


@router.post("/outbox/{job_id}/replay", response_model=ReplayOut, summary="Replay one dead job")
def replay_one(job_id: str, ctx: Context, _: Admin) -> ReplayOut:
    with ctx.db.write() as session:
        job = outbox.get_job(session, job_id)
        if job is None:
            raise not_found("job_id", "outbox job", job_id)
        if job.status != JobStatus.DEAD.value:
            raise Conflict(
                "not dead",
                [
                    FieldError(
                        "job_id", "not_dead", f"job {job_id} is {job.status}; only dead jobs replay"
                    )
                ],
            )
        return ReplayOut(replayed=outbox.replay(session, [job_id], ctx.clock()))


@router.get("/inbox", response_model=InboxList, summary="List received webhook events")
def list_inbox(
    ctx: Context,
    _: Admin,
    source: Annotated[str | None, Query(max_length=32)] = None,
    status: InboxStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InboxList:
    with ctx.db.read() as session:
        rows = inbox.list_events(
            session, source=source, status=status, limit=limit, after=decode_cursor(cursor)
        )
        return InboxList(data=[inbox_out(e) for e in rows], next_cursor=next_cursor(rows, limit))


@router.post("/webhook-subscriptions", status_code=201, response_model=SubscriptionOut)
def create_subscription(body: SubscriptionIn, ctx: Context, _: Admin) -> SubscriptionOut:
    target = subscriptions.check(body.url, body.event_types, ctx.settings)
    with ctx.db.write() as session:
        created = subscriptions.create(session, ctx.settings, target, body.description)
        return subscription_out(created.subscription, secret=created.secret)


@router.get("/webhook-subscriptions", response_model=SubscriptionList)
def list_subscriptions(ctx: Context, _: Admin) -> SubscriptionList:
    with ctx.db.read() as session:
        return SubscriptionList(data=[subscription_out(s) for s in subscriptions.list_all(session)])


@router.delete("/webhook-subscriptions/{subscription_id}", status_code=204, response_class=Response)
def delete_subscription(subscription_id: str, ctx: Context, _: Admin) -> Response:
    with ctx.db.write() as session:
        subscriptions.delete(session, subscription_id)
    return Response(status_code=204)


@router.get(
    "/connectors/health", response_model=HealthList, summary="Delivery health per connector"
)
def connector_health(ctx: Context, _: Admin) -> HealthList:
    with ctx.db.read() as session:
        return HealthList(
            data=[
                ConnectorHealthOut(
                    connector=h.connector,
                    healthy=h.healthy,
                    successes=h.successes,
                    failures=h.failures,
                    consecutive_failures=h.consecutive_failures,
                    last_success_at=h.last_success_at,
                    last_error_at=h.last_error_at,
                    last_error=h.last_error,
                )
                for h in health.all_health(session)
            ]
        )
