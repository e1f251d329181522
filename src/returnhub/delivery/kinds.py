"""Every outbox job kind and the handler that runs it: what the worker runs by default."""

from __future__ import annotations

from returnhub.delivery import inbox
from returnhub.delivery.context import BatchHandler, Handler
from returnhub.delivery.gladly_activity import ACTIVITY_JOB, post_activity
from returnhub.delivery.handlers import apply_inbox_event, apply_inbox_events
from returnhub.delivery.linking_jobs import autolink, pull
from returnhub.delivery.warehouse_jobs import handlers as warehouse_handlers
from returnhub.delivery.webhook_delivery import DELIVER_JOB, deliver_webhook
from returnhub.services.linking import AUTOLINK_JOB, PULL_JOB


def default_handlers() -> dict[str, Handler]:
    return {
        inbox.APPLY_JOB: apply_inbox_event,
        DELIVER_JOB: deliver_webhook,
        ACTIVITY_JOB: post_activity,
        AUTOLINK_JOB: autolink,
        PULL_JOB: pull,
        **warehouse_handlers(),
    }


def default_batch_handlers() -> dict[str, BatchHandler]:
    """The kinds whose jobs the worker may run several at a time, in one transaction."""
    return {inbox.APPLY_JOB: apply_inbox_events}
