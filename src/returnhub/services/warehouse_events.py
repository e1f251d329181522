"""Which domain events start the warehouse flow: a return becoming authorized gets its RA.

Kept apart from ``services.warehouse`` (which needs ``services.returns``) so that
``events.record_event`` can call it without an import cycle.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from returnhub.delivery import outbox
from returnhub.domain.events import EventType
from returnhub.domain.lifecycle import ReturnState
from returnhub.settings import Settings
from returnhub.store.tables import DomainEvent

CREATE_RA_JOB = "warehouse.create_ra"


def lane(return_public_id: str) -> str:
    """The lock key of every warehouse job about one return: they run in order. Our own lane,
    so a stuck help-desk job never holds up a receipt."""
    return f"warehouse:{return_public_id}"


def maybe_enqueue(session: Session, event: DomainEvent) -> bool:
    """A return that became authorized (an agent's action, or a return synced in that state)
    gets its RA, once per return; True when the job was added."""
    settings = session.info.get("settings")
    if not isinstance(settings, Settings) or not settings.warehouse_enabled:
        return False
    payload = event.payload
    authorized = ReturnState.AUTHORIZED.value
    if event.type == EventType.RETURN_STATE_CHANGED.value:
        if payload.get("to") != authorized:
            return False
    elif event.type != EventType.RETURN_CREATED.value or payload.get("state") != authorized:
        return False
    return outbox.enqueue(
        session,
        CREATE_RA_JOB,
        {"return_id": event.subject_id},
        lock_key=lane(event.subject_id),
        dedupe_key=f"{CREATE_RA_JOB}:{event.subject_id}",
    )
