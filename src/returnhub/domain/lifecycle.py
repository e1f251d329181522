"""The return state machine: every legal move is one row of ``TRANSITIONS``; nothing else moves.

requested → authorized → in_transit → received → processed → closed
flagged (needs review), rejected, cancelled and expired sit off the main path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from returnhub.domain.errors import IllegalTransition


class ReturnState(StrEnum):
    REQUESTED = "requested"
    AUTHORIZED = "authorized"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    FLAGGED = "flagged"
    PROCESSED = "processed"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ReturnAction(StrEnum):
    AUTHORIZE = "authorize"
    SHIP = "ship"
    RECEIVE = "receive"
    FLAG = "flag"
    PROCESS = "process"
    CLOSE = "close"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Transition:
    action: ReturnAction
    source: ReturnState
    target: ReturnState


S, A = ReturnState, ReturnAction

TRANSITIONS: tuple[Transition, ...] = (
    Transition(A.AUTHORIZE, S.REQUESTED, S.AUTHORIZED),
    Transition(A.REJECT, S.REQUESTED, S.REJECTED),
    Transition(A.CANCEL, S.REQUESTED, S.CANCELLED),
    Transition(A.EXPIRE, S.REQUESTED, S.EXPIRED),
    Transition(A.FLAG, S.REQUESTED, S.FLAGGED),
    Transition(A.SHIP, S.AUTHORIZED, S.IN_TRANSIT),
    # A customer may drop the parcel at the warehouse before any carrier scan reaches us.
    Transition(A.RECEIVE, S.AUTHORIZED, S.RECEIVED),
    Transition(A.CANCEL, S.AUTHORIZED, S.CANCELLED),
    # An authorisation nobody acts on lapses (the label's validity, Loop's "expired").
    Transition(A.EXPIRE, S.AUTHORIZED, S.EXPIRED),
    Transition(A.FLAG, S.AUTHORIZED, S.FLAGGED),
    Transition(A.RECEIVE, S.IN_TRANSIT, S.RECEIVED),
    Transition(A.FLAG, S.IN_TRANSIT, S.FLAGGED),
    Transition(A.PROCESS, S.RECEIVED, S.PROCESSED),
    Transition(A.FLAG, S.RECEIVED, S.FLAGGED),
    # A flagged return is reviewed by a person: it is then processed anyway, rejected, or sent
    # back to where the review started from (reopen → received).
    Transition(A.PROCESS, S.FLAGGED, S.PROCESSED),
    Transition(A.REJECT, S.FLAGGED, S.REJECTED),
    Transition(A.REOPEN, S.FLAGGED, S.RECEIVED),
    Transition(A.CLOSE, S.PROCESSED, S.CLOSED),
    Transition(A.CLOSE, S.REJECTED, S.CLOSED),
)

_BY_KEY = {(t.source, t.action): t for t in TRANSITIONS}

OPEN_STATES = frozenset({S.REQUESTED, S.AUTHORIZED, S.IN_TRANSIT, S.RECEIVED, S.FLAGGED})
# Returns in these states never took the goods back, so their quantities are free to return again.
VOID_STATES = frozenset({S.REJECTED, S.CANCELLED, S.EXPIRED})
FINAL_STATES = frozenset({S.CLOSED, S.CANCELLED, S.EXPIRED})


def allowed_actions(state: ReturnState) -> list[str]:
    """Actions legal from ``state``, in table order."""
    return [t.action.value for t in TRANSITIONS if t.source is state]


def next_state(state: ReturnState, action: ReturnAction) -> ReturnState:
    """The state ``action`` leads to from ``state``; ``IllegalTransition`` lists what is allowed."""
    transition = _BY_KEY.get((state, action))
    if transition is None:
        raise IllegalTransition(state.value, action.value, allowed_actions(state))
    return transition.target
