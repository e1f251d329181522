"""The 997 Functional Acknowledgment we send back for each 944 interchange we read: one 997
transaction set per functional group acknowledged (AK1), one AK2/AK5 per transaction set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from returnhub.connectors.edi.x12 import Party, Separators, write

FUNCTIONAL_ID = "FA"


@dataclass(frozen=True)
class AckGroup:
    functional_id: str
    control_number: str
    transactions: tuple[tuple[str, str], ...]  # (ST01, ST02)


def body(group: AckGroup, accepted: bool) -> list[list[str]]:
    code = "A" if accepted else "R"
    segments: list[list[str]] = [["AK1", group.functional_id, group.control_number]]
    for set_code, set_control in group.transactions:
        segments.append(["AK2", set_code, set_control])
        segments.append(["AK5", code])
    count = str(len(group.transactions))
    segments.append(["AK9", code, count, count, count if accepted else "0"])
    return segments


def build(
    *,
    groups: Sequence[AckGroup],
    accepted: bool,
    sender: Party,
    receiver: Party,
    control_number: int,
    when: datetime,
    separators: Separators | None = None,
) -> str:
    return write(
        sender=sender,
        receiver=receiver,
        control_number=control_number,
        functional_id=FUNCTIONAL_ID,
        when=when,
        transactions=[("997", body(group, accepted)) for group in groups],
        separators=separators,
    )
