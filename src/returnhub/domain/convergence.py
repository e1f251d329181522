"""Which of two reports of one return (or of its label) is the newer, when sources do not
always say.

Sources stamp their changes unevenly: Loop's ``edited_at`` stays null unless someone edited the
return inside Loop, Shopify's Return has no update time at all, and a label event carries its
own clock. So the order of two reports is decided from the source's own stamps where both carry
one and they differ, and otherwise from how far along the lifecycle each report is: a move
forward is never stale, the same state again only refreshes details, and a move backwards (or
sideways between two final states) without a newer stamp cannot be decided from the payloads.
Then the caller reads the source's present state from its API, when it can.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from returnhub.domain.lifecycle import ReturnState

S = ReturnState

# How far along a return is. The final states share one rank: one final state never follows
# another in any source, so a report of a different final state must be decided by a stamp.
PROGRESS: dict[ReturnState, int] = {
    S.REQUESTED: 0,
    S.AUTHORIZED: 1,
    S.IN_TRANSIT: 2,
    S.RECEIVED: 3,
    # Review starts once the parcel is in hand (or blocks processing before it); it ends in
    # processing or a final state.
    S.FLAGGED: 4,
    S.PROCESSED: 5,
    S.CLOSED: 6,
    S.REJECTED: 6,
    S.CANCELLED: 6,
    S.EXPIRED: 6,
}

# Carrier label statuses in the order a parcel moves (Loop's documented vocabulary and the
# values seen in real payloads); failure and error end a label's life.
LABEL_PROGRESS: dict[str, int] = {
    "": 0,
    "n/a": 0,
    "new": 1,
    "pending": 1,
    "pre_transit": 2,
    "in_transit": 3,
    "out_for_delivery": 4,
    "delivered": 5,
    "failure": 5,
    "error": 5,
}


class Verdict(StrEnum):
    NEWER = "newer"
    OLDER = "older"
    # Neither stamps nor the lifecycle say: only the source's present state can.
    UNDECIDED = "undecided"


def _by_stamp(held: datetime | None, incoming: datetime | None) -> Verdict | None:
    if held is None or incoming is None or held == incoming:
        return None
    return Verdict.NEWER if incoming > held else Verdict.OLDER


def compare_returns(
    held_state: ReturnState,
    held_stamp: datetime | None,
    state: ReturnState,
    stamp: datetime | None,
) -> Verdict:
    """Is the incoming report (state, stamp) newer than what the ledger holds?"""
    decided = _by_stamp(held_stamp, stamp)
    if decided is not None:
        return decided
    if state == held_state or PROGRESS[state] > PROGRESS[held_state]:
        return Verdict.NEWER
    return Verdict.UNDECIDED


def compare_stamped(held: datetime | None, stamp: datetime) -> Verdict:
    """Is the incoming report newer, for records whose every report carries the source's own
    update time (Shopify's orders, fulfilments and customers)? The same stamp again is a resend
    or a sibling topic of the same change (orders/create and orders/paid in one second): it is
    applied, and changes nothing that is already there."""
    if held is None or stamp >= held:
        return Verdict.NEWER
    return Verdict.OLDER


def compare_labels(
    held_status: str, held_stamp: datetime | None, status: str, stamp: datetime | None
) -> Verdict:
    """Is the incoming label report newer than the label the ledger holds? An unknown status
    counts as a move forward only when it comes with a newer stamp."""
    decided = _by_stamp(held_stamp, stamp)
    if decided is not None:
        return decided
    if held_stamp is not None and stamp is None:
        return Verdict.OLDER  # a report without a label clock never overrides one with it
    rank, held_rank = LABEL_PROGRESS.get(status, -1), LABEL_PROGRESS.get(held_status, -1)
    if status == held_status or rank > held_rank:
        return Verdict.NEWER
    return Verdict.OLDER
