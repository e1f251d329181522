"""Which domain events become a CUSTOMER_ACTIVITY on the customer's Gladly timeline.

The job is written in the transaction that records the event (``events.record_event``), so a
change is never committed without its activity, nor an activity posted for a rolled-back change.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from returnhub.delivery import outbox
from returnhub.domain.events import EventType
from returnhub.settings import Settings
from returnhub.store.tables import DomainEvent

ACTIVITY_JOB = "gladly.activity"
CONNECTOR = "gladly"
ACTIVITY_EVENTS = frozenset({EventType.RETURN_CREATED.value, EventType.RETURN_STATE_CHANGED.value})


def maybe_enqueue(session: Session, event: DomainEvent) -> bool:
    """Enqueue the activity job for ``event`` when Gladly timeline activity is on and the event
    is a return being created or changing state; True when a job was added."""
    settings = session.info.get("settings")
    if not isinstance(settings, Settings) or not settings.gladly_activity_enabled:
        return False
    if event.type not in ACTIVITY_EVENTS:
        return False
    return outbox.enqueue(
        session,
        ACTIVITY_JOB,
        {"event_id": event.public_id},
        connector=CONNECTOR,
        # One lane per return: its activities reach the timeline in the order they happened.
        lock_key=f"gladly:{event.subject_id}",
        dedupe_key=f"gladly-activity:{event.public_id}",
    )
