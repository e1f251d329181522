"""Writing timeline entries and domain events inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, object_session

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
    # Inserted with the caller's next flush or commit; the jobs below need only its public id.
    session.add(event)
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
    session = object_session(ret)
    if session is not None and ret.id is not None and "timeline" in inspect(ret).unloaded:
        # A stored return: add the entry without loading its whole timeline first (a read of
        # every earlier entry per change); a later read of the timeline sees it after autoflush.
        entry.return_id = ret.id
        session.add(entry)
    else:
        ret.timeline.append(entry)
    return entry
