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
    with ctx.db.read() as session:
        event = session.scalar(
            select(DomainEvent).where(DomainEvent.public_id == job.payload["event_id"])
        )
        subscription = session.scalar(
            select(WebhookSubscription).where(
                WebhookSubscription.public_id == job.payload["subscription_id"]
            )
        )
        if event is None or subscription is None or not subscription.active:
            return  # unsubscribed since: nothing to deliver, and nothing to retry
        url, secret = subscription.url, subscription.secret
        body = json.dumps(
            {
                "type": event.type,
                "timestamp": event.occurred_at.isoformat(),
                "data": {"id": event.subject_id, **event.payload},
            },
            separators=(",", ":"),
        )
        message_id = event.public_id
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
