"""The 997 Functional Acknowledgment we send back for every 944 interchange whose envelope we
can read, accepted or not: one 997 per functional group acknowledged (AK1), one AK2 … AK5 per
transaction set, then AK9 for the group.

- AK5-01 / AK9-01: ``A`` accepted; ``E`` accepted, but errors were noted (we tolerated a
  departure from the 4010 944, e.g. no N1 loop); ``R`` rejected. A document is applied all or
  nothing, so one refused set rejects every set of the interchange; only the set at fault
  carries the codes.
- AK3 (segment at fault: id, position counted from ST = 1, syntax code) and AK4 (element at
  fault: position, syntax code, copy of the bad value) say where; AK5-02 and AK9-05 carry the
  set's and the group's own codes (a trailer missing, miscounted or naming another number).
- Groups of 997s (functional id FA) are never acknowledged: nobody acknowledges an
  acknowledgment.

The plan (what to say) is made when the 944 is read and travels in the outbox job as plain
data; the job numbers and writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from returnhub.connectors.edi.x12 import Envelope, Party, Separators, X12Error, clean, write

FUNCTIONAL_ID = "FA"
# AK4-04 and AK5/AK9 code lists are short; AK404 holds at most 99 characters.
MAX_COPY = 99
MAX_CODES = 5


@dataclass(frozen=True)
class ElementNote:
    position: int  # AK401, counted from the first element after the segment id
    code: str  # AK403, element 723
    value: str = ""  # AK404


@dataclass(frozen=True)
class SegmentNote:
    segment: str  # AK301
    position: int  # AK302, counted from ST = 1
    code: str = ""  # AK304, element 720
    element: ElementNote | None = None


@dataclass(frozen=True)
class SetAck:
    code: str  # AK201 (ST01)
    control_number: str  # AK202 (ST02)
    status: str  # AK501
    errors: tuple[str, ...] = ()  # AK502…
    segments: tuple[SegmentNote, ...] = ()


@dataclass(frozen=True)
class GroupAck:
    functional_id: str  # AK101
    control_number: str  # AK102
    status: str  # AK901
    sets: tuple[SetAck, ...]
    errors: tuple[str, ...] = ()  # AK905…

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupAck:
        sets = tuple(
            SetAck(
                s["code"],
                s["control_number"],
                s["status"],
                tuple(s["errors"]),
                tuple(
                    SegmentNote(
                        n["segment"],
                        n["position"],
                        n["code"],
                        ElementNote(**n["element"]) if n["element"] else None,
                    )
                    for n in s["segments"]
                ),
            )
            for s in data["sets"]
        )
        return cls(
            data["functional_id"],
            data["control_number"],
            data["status"],
            sets,
            tuple(data["errors"]),
        )


def _segment_note(problem: X12Error, set_start: int) -> SegmentNote | None:
    if not problem.segment_code:
        return None
    element = (
        ElementNote(problem.element, problem.element_code or "6", problem.value)
        if problem.element
        else None
    )
    return SegmentNote(
        problem.segment or "ST", problem.position - set_start + 1, problem.segment_code, element
    )


def plan(
    envelope: Envelope, errors: Sequence[X12Error], notes: Sequence[X12Error] = ()
) -> list[GroupAck]:
    """What to acknowledge: ``errors`` refused the interchange (every set ``R``), ``notes``
    were tolerated (their sets ``E``). Each problem is placed by its segment position."""
    rejected = bool(errors)
    groups: list[GroupAck] = []
    for group in envelope.groups:
        if group.functional_id == FUNCTIONAL_ID:
            continue
        sets: list[SetAck] = []
        for span in group.sets:
            mine = [p for p in (*errors, *notes) if span.start <= p.position <= span.end]
            segments = tuple(
                note for p in mine if (note := _segment_note(p, span.start)) is not None
            )
            codes = [p.set_code for p in mine if p.set_code]
            if segments:
                codes.append("5")  # one or more segments in error
            status = "R" if rejected else ("E" if mine else "A")
            sets.append(
                SetAck(
                    span.code,
                    span.control_number,
                    status,
                    tuple(dict.fromkeys(codes))[:MAX_CODES],
                    segments,
                )
            )
        group_codes = [
            p.group_code
            for p in errors
            if p.group_code and envelope.locate(p.position) == (group, None)
        ]
        noted = any(s.status == "E" for s in sets)
        groups.append(
            GroupAck(
                group.functional_id,
                group.control_number,
                "R" if rejected else ("E" if noted else "A"),
                tuple(sets),
                tuple(dict.fromkeys(group_codes))[:MAX_CODES],
            )
        )
    return groups


def body(group: GroupAck, seps: Separators) -> list[list[str]]:
    segments: list[list[str]] = [["AK1", group.functional_id, group.control_number]]
    for tx in group.sets:
        segments.append(["AK2", tx.code, tx.control_number])
        for note in tx.segments:
            segments.append(["AK3", note.segment, str(note.position), "", note.code])
            if note.element is not None:
                copy = clean(note.element.value, seps)[:MAX_COPY]
                segments.append(["AK4", str(note.element.position), "", note.element.code, copy])
        segments.append(["AK5", tx.status, *tx.errors])
    included = str(len(group.sets))
    accepted = str(sum(1 for tx in group.sets if tx.status in ("A", "E")))
    segments.append(["AK9", group.status, included, included, accepted, *group.errors])
    return segments


def build(
    *,
    groups: Sequence[GroupAck],
    sender: Party,
    receiver: Party,
    control_number: int,
    when: datetime,
    separators: Separators | None = None,
) -> str:
    seps = separators or Separators()
    return write(
        sender=sender,
        receiver=receiver,
        control_number=control_number,
        functional_id=FUNCTIONAL_ID,
        when=when,
        transactions=[("997", body(group, seps)) for group in groups],
        separators=seps,
    )
