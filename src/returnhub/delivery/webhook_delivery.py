"""Delivering our events to merchants' subscribed URLs, signed with Standard Webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select
from standardwebhooks import Webhook

from returnhub.connectors.http import send
from returnhub.delivery.handlers import HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.services.subscriptions import DELIVER_JOB
from returnhub.store.tables import DomainEvent, WebhookSubscription

__all__ = ["DELIVER_JOB", "deliver_webhook"]


def deliver_webhook(ctx: HandlerContext, job: ClaimedJob) -> None:
    # Plain column reads (no ORM entities): this runs once per delivery, many times a second.
    with ctx.db.read() as session:
        event = session.execute(
            select(
                DomainEvent.public_id,
                DomainEvent.type,
                DomainEvent.occurred_at,
                DomainEvent.subject_id,
                DomainEvent.payload,
            ).where(DomainEvent.public_id == job.payload["event_id"])
        ).first()
        subscription = session.execute(
            select(WebhookSubscription.url, WebhookSubscription.secret).where(
                WebhookSubscription.public_id == job.payload["subscription_id"],
                WebhookSubscription.active.is_(True),
            )
        ).first()
    if event is None or subscription is None:
        return  # unsubscribed since: nothing to deliver, and nothing to retry
    message_id, event_type, occurred_at, subject_id, payload = event
    url, secret = subscription
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
    send(
        ctx.http,
        "POST",
        url,
        content=body.encode(),
        headers={
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "idempotency-key": job.idempotency_key,
            "user-agent": "returnhub-webhooks/1",
        },
    )
