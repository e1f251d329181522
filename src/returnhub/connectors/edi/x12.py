"""The X12 envelope: ISA/GS/ST … SE/GE/IEA, read and written by us.

Reading takes every separator from the ISA segment, which is fixed-width: the element separator
is the character right after ``ISA``, the component separator is ISA16 and the segment terminator
is the character right after ISA16. Line breaks after terminators (``~\\r\\n``) are tolerated,
as 3PLs often "pretty print" their files. Every error names the segment's position (1-based,
counted from ISA) so an operator can open the file at the offending line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

ISA_ELEMENTS = 16
# The segments that open or close an interchange, a group or a set, besides SE.
ENVELOPE_SEGMENTS = frozenset({"ISA", "GS", "ST", "GE", "IEA"})
# The widths of ISA01..ISA16: the segment is always 106 characters with its terminator.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)


class X12Error(ValueError):
    """A document we refuse (raised; nothing from it is applied), or a departure from the
    standard we tolerate (kept as a note, acknowledged as "accepted with errors").

    Besides the position, it carries the 997's codes for it, the code lists of X12 4010:
    ``set_code`` AK502 (element 718: 1 set not supported, 2 trailer missing, 3 ST/SE control
    numbers differ, 4 SE count wrong, 7 invalid control number); ``group_code`` AK905 (716:
    1 group not supported, 3 trailer missing, 4 GS/GE control numbers differ, 5 GE count
    wrong); ``segment_code`` AK304 (720: 1 unrecognized segment id, 3 mandatory segment
    missing, 6 not in the set, 7 out of sequence, 8 element errors); and, for one element,
    ``element`` AK401 with ``element_code`` AK403 (723: 1 mandatory missing, 2 conditional
    missing, 5 too long, 6 invalid character) and the bad ``value`` AK404.
    """

    def __init__(
        self,
        message: str,
        position: int = 0,
        segment: str = "",
        *,
        set_code: str = "",
        group_code: str = "",
        segment_code: str = "",
        element: int = 0,
        element_code: str = "",
        value: str = "",
    ) -> None:
        where = f"segment {position} ({segment}): " if position else ""
        super().__init__(f"{where}{message}")
        self.message = message
        self.position = position
        self.segment = segment
        self.set_code = set_code
        self.group_code = group_code
        self.segment_code = segment_code or ("8" if element else "")
        self.element = element
        self.element_code = element_code
        self.value = value

    @property
    def detail(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Separators:
    element: str = "*"
    component: str = ">"
    segment: str = "~"


@dataclass(frozen=True)
class Segment:
    position: int
    elements: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, index: int) -> str:
        """Element ``index`` (1-based, as X12 numbers them), or "" when absent."""
        return self.elements[index].strip() if index < len(self.elements) else ""


@dataclass(frozen=True)
class Transaction:
    code: str
    control_number: str
    segments: tuple[Segment, ...]  # ST … SE inclusive


@dataclass(frozen=True)
class Group:
    functional_id: str
    sender: str
    receiver: str
    control_number: str
    version: str
    transactions: tuple[Transaction, ...]


@dataclass(frozen=True)
class Interchange:
    separators: Separators
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    control_number: str
    test: bool
    groups: tuple[Group, ...] = field(default_factory=tuple)


def _separators(text: str) -> tuple[Separators, int]:
    """The separators and the offset where the first segment after ISA starts."""
    if not text.startswith("ISA"):
        raise X12Error("the document must start with an ISA segment", 1, "ISA")
    if len(text) < 106:
        raise X12Error("the ISA segment is shorter than its fixed 106 characters", 1, "ISA")
    element = text[3]
    if element.isalnum() or element in " \r\n\t":
        raise X12Error(f"invalid element separator {element!r} after ISA", 1, "ISA")
    index = 3
    for _ in range(ISA_ELEMENTS - 1):
        index = text.find(element, index + 1)
        if index < 0:
            raise X12Error("the ISA segment does not have 16 elements", 1, "ISA")
    # ``index`` is the separator before ISA16; ISA16 is one character, then the terminator.
    component, terminator = text[index + 1], text[index + 2]
    if terminator in (element, component) or terminator.isalnum():
        raise X12Error(f"invalid segment terminator {terminator!r} after ISA16", 1, "ISA")
    return Separators(element, component, terminator), index + 3


def split_segments(text: str, *, strict: bool = True) -> tuple[Separators, list[Segment]]:
    """Every segment, numbered from ISA = 1; ``strict=False`` skips what is not a segment
    instead of refusing it (to find the envelope of a document we refuse)."""
    text = text.lstrip("\ufeff\r\n\t ")
    seps, _ = _separators(text)
    segments: list[Segment] = []
    for raw in text.split(seps.segment):
        raw = raw.strip("\r\n")
        if not raw.strip():
            continue
        position = len(segments) + 1
        elements = tuple(raw.split(seps.element))
        segment_id = elements[0].strip()
        if not segment_id.isalnum() or not 2 <= len(segment_id) <= 3:
            if not strict:
                continue
            raise X12Error(
                f"{segment_id!r} is not a segment id",
                position,
                clean(segment_id[:3], seps),
                segment_code="1",
            )
        segments.append(Segment(position, (segment_id, *elements[1:])))
    return seps, segments


# The 997's codes for a trailer that is missing, miscounts or names another control number:
# AK502 for SE (element 718), AK905 for GE (element 716); the 997 has none for IEA.
TRAILER_CODES: dict[str, tuple[str, dict[str, str]]] = {
    "SE": ("set_code", {"missing": "2", "count": "4", "control": "3"}),
    "GE": ("group_code", {"missing": "3", "count": "5", "control": "4"}),
}


def _trailer_error(message: str, position: int, segment: str, trailer: str, what: str) -> X12Error:
    field, codes = TRAILER_CODES.get(trailer, ("", {}))
    error = X12Error(message, position, segment)
    if field:
        setattr(error, field, codes[what])
    return error


def _expect(segment: Segment | None, segment_id: str, after: Segment) -> Segment:
    if segment is None:
        raise _trailer_error(
            f"missing {segment_id} at the end of the document",
            after.position + 1,
            "",
            segment_id,
            "missing",
        )
    if segment.id != segment_id:
        raise _trailer_error(
            f"expected {segment_id}, found {segment.id}",
            segment.position,
            segment.id,
            segment_id,
            "missing",
        )
    return segment


def _count(segment: Segment, index: int, expected: int, what: str) -> None:
    raw = segment.get(index)
    if not raw.isdigit() or int(raw) != expected:
        raise _trailer_error(
            f"{segment.id}{index:02d} says {raw or 'nothing'} {what}, the document has {expected}",
            segment.position,
            segment.id,
            segment.id,
            "count",
        )


def _same(segment: Segment, index: int, expected: str, opener: str) -> None:
    if segment.get(index).lstrip("0") != expected.lstrip("0"):
        raise _trailer_error(
            f"control number {segment.get(index)!r} does not match {opener}'s {expected!r}",
            segment.position,
            segment.id,
            segment.id,
            "control",
        )


def parse(text: str) -> Interchange:
    """Read and validate one interchange: structure, counts and control numbers."""
    seps, segments = split_segments(text)
    isa = segments[0]
    if len(isa.elements) != ISA_ELEMENTS + 1:
        raise X12Error(f"ISA has {len(isa.elements) - 1} elements, not 16", 1, "ISA")
    it = iter(segments[1:])
    groups: list[Group] = []
    current = isa
    while True:
        seg = next(it, None)
        if seg is None:
            _expect(None, "IEA", current)
            raise AssertionError  # pragma: no cover
        if seg.id == "IEA":
            _count(seg, 1, len(groups), "functional groups")
            _same(seg, 2, isa.get(13), "ISA13")
            trailing = next(it, None)
            if trailing is not None:
                raise X12Error("segment after IEA", trailing.position, trailing.id)
            break
        gs = _expect(seg, "GS", current)
        transactions: list[Transaction] = []
        current = gs
        while True:
            seg = next(it, None)
            if seg is not None and seg.id == "GE":
                _count(seg, 1, len(transactions), "transaction sets")
                _same(seg, 2, gs.get(6), "GS06")
                current = seg
                break
            st = _expect(seg, "ST" if seg is None or seg.id != "IEA" else "GE", current)
            body = [st]
            while True:
                seg = next(it, None)
                if seg is None:
                    _expect(None, "SE", body[-1])
                assert seg is not None
                if seg.id in ENVELOPE_SEGMENTS:
                    raise X12Error(
                        f"{seg.id} before the SE closing the transaction set at segment "
                        f"{st.position}",
                        seg.position,
                        seg.id,
                        set_code="2",
                    )
                body.append(seg)
                if seg.id == "SE":
                    break
            se = body[-1]
            _count(se, 1, len(body), "segments")
            _same(se, 2, st.get(2), "ST02")
            transactions.append(Transaction(st.get(1), st.get(2), tuple(body)))
            current = se
        groups.append(
            Group(gs.get(1), gs.get(2), gs.get(3), gs.get(6), gs.get(8), tuple(transactions))
        )
    return Interchange(
        separators=seps,
        sender_qualifier=isa.get(5),
        sender_id=isa.get(6),
        receiver_qualifier=isa.get(7),
        receiver_id=isa.get(8),
        control_number=isa.get(13),
        test=isa.get(15) == "T",
        groups=tuple(groups),
    )


@dataclass(frozen=True)
class SetSpan:
    """Where a transaction set lies (segment positions from ISA = 1), read leniently."""

    code: str
    control_number: str
    start: int
    end: int


@dataclass(frozen=True)
class GroupSpan:
    functional_id: str
    control_number: str
    start: int
    end: int
    sets: tuple[SetSpan, ...]


@dataclass(frozen=True)
class Envelope:
    """Who sent an interchange and how it is divided, enough to acknowledge it even when
    :func:`parse` refuses it. A span without its trailer ends where the next envelope segment
    starts (or just past the last segment), so an error about the missing trailer falls in it."""

    sender_qualifier: str
    sender_id: str
    control_number: str
    groups: tuple[GroupSpan, ...]

    def locate(self, position: int) -> tuple[GroupSpan | None, SetSpan | None]:
        for group in self.groups:
            if group.start <= position <= group.end:
                for span in group.sets:
                    if span.start <= position <= span.end:
                        return group, span
                return group, None
        return None, None


def envelope(text: str) -> Envelope | None:
    """The envelope of a document whose ISA can be read, however broken the rest is; None
    when there is no ISA to answer to."""
    try:
        _, segments = split_segments(text, strict=False)
    except X12Error:
        return None
    isa = segments[0]
    if len(isa.elements) != ISA_ELEMENTS + 1 or not isa.get(6):
        return None
    after_last = segments[-1].position + 1
    groups: list[GroupSpan] = []
    group: tuple[Segment, list[SetSpan]] | None = None
    st: Segment | None = None

    def close_set(end: int) -> None:
        nonlocal st
        if st is not None and group is not None:
            group[1].append(SetSpan(st.get(1), st.get(2), st.position, end))
        st = None

    def close_group(end: int) -> None:
        nonlocal group
        if group is not None:
            gs, sets = group
            groups.append(GroupSpan(gs.get(1), gs.get(6), gs.position, end, tuple(sets)))
        group = None

    for seg in segments[1:]:
        if seg.id in ("GS", "GE", "IEA", "ST"):
            close_set(seg.position)
        if seg.id in ("GS", "IEA"):
            close_group(seg.position)
        if seg.id == "GS":
            group = (seg, [])
        elif seg.id == "ST" and group is not None:
            st = seg
        elif seg.id == "SE":
            close_set(seg.position)
        elif seg.id == "GE":
            close_group(seg.position)
    close_set(after_last)
    close_group(after_last)
    return Envelope(isa.get(5), isa.get(6), isa.get(13), tuple(groups))


def clean(value: str, seps: Separators) -> str:
    """X12 data may not contain a separator; replace them rather than refuse the value."""
    for ch in (seps.element, seps.component, seps.segment, "\r", "\n"):
        value = value.replace(ch, " ")
    return value.strip()


@dataclass(frozen=True)
class Party:
    qualifier: str
    id: str


def _isa(
    sender: Party, receiver: Party, control: int, when: datetime, seps: Separators, test: bool
) -> str:
    values = (
        "00",
        "",
        "00",
        "",
        sender.qualifier,
        sender.id,
        receiver.qualifier,
        receiver.id,
        when.strftime("%y%m%d"),
        when.strftime("%H%M"),
        "U",
        "00401",
        f"{control:09d}",
        "0",
        "T" if test else "P",
        seps.component,
    )
    padded = [v.ljust(width)[:width] for v, width in zip(values, ISA_WIDTHS, strict=True)]
    return seps.element.join(["ISA", *padded])


def write(
    *,
    sender: Party,
    receiver: Party,
    control_number: int,
    functional_id: str,
    when: datetime,
    transactions: Sequence[tuple[str, Sequence[Sequence[str]]]],
    separators: Separators | None = None,
    test: bool = False,
) -> str:
    """One interchange holding one functional group. ``transactions`` are (ST01 code, body
    segments between ST and SE); the group and every set reuse ``control_number`` (ST02 counts
    from 0001 inside the group), one line per segment."""
    seps = separators or Separators()
    lines = [
        _isa(sender, receiver, control_number, when, seps, test),
        seps.element.join(
            [
                "GS",
                functional_id,
                sender.id,
                receiver.id,
                when.strftime("%Y%m%d"),
                when.strftime("%H%M"),
                str(control_number),
                "X",
                "004010",
            ]
        ),
    ]
    for n, (code, body) in enumerate(transactions, start=1):
        st_control = f"{n:04d}"
        lines.append(seps.element.join(["ST", code, st_control]))
        lines.extend(seps.element.join(segment).rstrip(seps.element) for segment in body)
        lines.append(seps.element.join(["SE", str(len(body) + 2), st_control]))
    lines.append(seps.element.join(["GE", str(len(transactions)), str(control_number)]))
    lines.append(seps.element.join(["IEA", "1", f"{control_number:09d}"]))
    return "".join(f"{line}{seps.segment}\n" for line in lines)
