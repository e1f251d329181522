"""Writing timeline entries and domain events inside the caller's transaction, and what
recording an event starts: its subscribers, wired once when the app, worker or CLI is built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, object_session

from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id
from returnhub.services import subscriptions
from returnhub.store.db import Database
from returnhub.store.tables import DomainEvent, Return, TimelineEntry

EventSubscriber = Callable[[Session, DomainEvent], object]
"""Runs inside the transaction that records the event: what it enqueues commits with the
change that caused it, or not at all."""

# The key under which a session carries its database's subscribers (see ``subscribe``).
SUBSCRIBERS = "returnhub.event_subscribers"
# A database nobody wired still delivers to the merchant's webhook subscriptions: they are rows
# in that database, wanted whatever the settings. Integrations that settings turn on (Gladly
# activity, auto-link, the warehouse) run only where they were wired.
UNWIRED: tuple[EventSubscriber, ...] = (subscriptions.fan_out,)


def subscribe(db: Database, subscribers: Sequence[EventSubscriber]) -> None:
    """Make ``subscribers`` what every event recorded through ``db``'s sessions starts, in
    this order; replaces any wired before."""
    db.session_info[SUBSCRIBERS] = tuple(subscribers)


def record_event(
    session: Session, event_type: EventType, subject_id: str, payload: dict[str, Any]
) -> DomainEvent:
    event = DomainEvent(
        public_id=new_id(Prefix.EVENT),
        type=event_type.value,
        subject_id=subject_id,
        payload=payload,
    )
    # Inserted with the caller's next flush or commit; the subscribers need only its public id.
    session.add(event)
    for subscriber in session.info.get(SUBSCRIBERS, UNWIRED):
        subscriber(session, event)
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
