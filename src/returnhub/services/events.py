"""Writing timeline entries and domain events inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id
from returnhub.services import gladly_activity, linking, subscriptions, warehouse_events
from returnhub.store.tables import DomainEvent, Return, TimelineEntry


def record_event(
    session: Session, event_type: EventType, subject_id: str, payload: dict[str, Any]
) -> DomainEvent:
    event = DomainEvent(
        public_id=new_id(Prefix.EVENT),
        type=event_type.value,
        subject_id=subject_id,
        payload=payload,
    )
    session.add(event)
    session.flush()
    subscriptions.fan_out(session, event)
    gladly_activity.maybe_enqueue(session, event)
    linking.maybe_enqueue_autolink(session, event)
    warehouse_events.maybe_enqueue(session, event)
    return event


def record_timeline(
    ret: Return,
    kind: str,
    message: str,
    actor: str,
    from_state: str | None = None,
    to_state: str | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        kind=kind, message=message, actor=actor, from_state=from_state, to_state=to_state
    )
    ret.timeline.append(entry)
    return entry
