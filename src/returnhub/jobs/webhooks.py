"""Delivering our events to merchants' subscribed URLs, signed with Standard Webhooks: the
``webhook.deliver`` job, and the fan-out that enqueues it for every recorded event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import String, bindparam, select, true
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from returnhub.connectors.errors import ConfigurationError
from returnhub.delivery.context import HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.jobs.registry import registry
from returnhub.services import subscriptions
from returnhub.services.subscriptions import DELIVER_JOB, target_problem
from returnhub.settings import Settings
from returnhub.store import sealed
from returnhub.store.tables import DomainEvent, WebhookSubscription


@registry.on_event
def fan_out(session: Session, event: DomainEvent, settings: Settings) -> int:
    """Every event goes to the subscriptions that want its type, whatever the settings."""
    return subscriptions.fan_out(session, event)


@cache
def _event_and_subscription() -> Any:
    """The event and its (still active) subscription in one prepared statement: this runs once
    per delivery, many times a second. No row when either is gone."""
    return (
        select(
            DomainEvent.public_id,
            DomainEvent.type,
            DomainEvent.occurred_at,
            DomainEvent.subject_id,
            DomainEvent.payload,
            WebhookSubscription.url,
            WebhookSubscription.secret,
        )
        # Two single-row lookups side by side: nothing relates them but the job.
        .join_from(DomainEvent, WebhookSubscription, true())
        .where(
            DomainEvent.public_id == bindparam("event_id", type_=String),
            WebhookSubscription.public_id == bindparam("subscription_id", type_=String),
            WebhookSubscription.active.is_(True),
        )
    )


@registry.handler(DELIVER_JOB)
def deliver_webhook(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.read_connection() as connection:
        found = connection.execute(
            _event_and_subscription(),
            {
                "event_id": job.payload["event_id"],
                "subscription_id": job.payload["subscription_id"],
            },
        ).first()
    if found is None:
        return  # unsubscribed since: nothing to deliver, and nothing to retry
    message_id, event_type, occurred_at, subject_id, payload, url, stored_secret = found
    refused = target_problem(url, ctx.settings)
    if refused is not None:
        # Its name now points inside (DNS rebinding) or the setting was turned off: a person
        # must look, so the job is parked, not retried.
        raise ConfigurationError(
            f"not delivered to subscription {job.payload['subscription_id']}: {refused}"
        )
    try:
        secret = sealed.unseal(ctx.settings, stored_secret)
    except sealed.SealedWithAnotherKey:
        raise ConfigurationError(
            f"the signing secret of subscription {job.payload['subscription_id']} was sealed "
            "under another RETURNHUB_SECRET_KEY: restore that key, or delete the subscription "
            "and create it again (`returnhub webhooks add`), then `returnhub outbox replay`"
        ) from None
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": occurred_at.isoformat(),
            "data": {"id": subject_id, **payload},
        },
        separators=(",", ":"),
    )
    # The signature timestamp is the real moment of sending (receivers check it against their
    # own clocks), not the app's business clock.
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=now, data=body)
    ctx.posts.post(
        url,
        body.encode(),
        {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "idempotency-key": job.idempotency_key,
            "user-agent": "returnhub-webhooks/1",
        },
    )
