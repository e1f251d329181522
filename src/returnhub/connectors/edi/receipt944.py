"""Reading the 3PL's receipt: a 944 Warehouse Stock Transfer Receipt Advice (group RE).

- W17-01 reporting code, 02 receive date, 03 warehouse receipt number, 04 depositor order
  number (our RA number, from the 943's W06-02).
- W07-01 quantity received, 02 unit, 03 UPC case code, 04/05 and 06/07 product id pairs: the
  SKU is the SK id, else the VN (vendor) id, else the UP (UPC) id or W07-03.
- W13 (after its W07) item exception: 01 quantity, 03 receiving condition code, 05 damage reason.
  Its quantity is part of the W07 quantity; the rest arrived without exception.
- W14-01 total quantity received, checked against the W07 lines.

[I] W17-01 "P" is read as a partial receipt (more to come); any other code means the 3PL has
closed its receipt of the ASN.
"""

from __future__ import annotations

from dataclasses import dataclass

from returnhub.connectors.edi.x12 import Interchange, Segment, Transaction, X12Error, parse

FUNCTIONAL_ID = "RE"
PARTIAL_REPORTING_CODE = "P"
# The segments a 944 may hold (4010); anything else is refused, not skipped.
KNOWN_SEGMENTS = frozenset(
    {"ST", "W17", "N1", "N2", "N3", "N4", "PER", "N9", "G61", "G62", "NTE", "W08", "W18", "G08"}
    | {"W07", "G69", "W20", "W13", "W14", "SE"}
)
SKU_QUALIFIERS = ("SK", "VN", "UP")


@dataclass(frozen=True)
class ReceiptException:
    quantity: int
    condition_code: str
    damage_code: str = ""


@dataclass(frozen=True)
class ReceiptItem:
    sku: str
    quantity: int
    exceptions: tuple[ReceiptException, ...] = ()


@dataclass(frozen=True)
class Receipt944:
    ra_number: str
    receipt_number: str
    received_on: str
    complete: bool
    items: tuple[ReceiptItem, ...]
    # What identifies this document for deduplication and the 997.
    sender_id: str
    interchange_control: str
    group_control: str
    transaction_control: str


def _quantity(segment: Segment, index: int) -> int:
    raw = segment.get(index)
    try:
        value = float(raw)
    except ValueError:
        raise X12Error(
            f"{segment.id}{index:02d} {raw!r} is not a quantity", segment.position, segment.id
        ) from None
    if value < 0 or value != int(value):
        raise X12Error(
            f"{segment.id}{index:02d} {raw!r} is not a whole, non-negative quantity",
            segment.position,
            segment.id,
        )
    return int(value)


def _sku(w07: Segment) -> str:
    ids = {w07.get(i): w07.get(i + 1) for i in (4, 6) if w07.get(i)}
    if w07.get(3):
        ids.setdefault("UP", w07.get(3))
    for qualifier in SKU_QUALIFIERS:
        if ids.get(qualifier):
            return ids[qualifier]
    raise X12Error(
        "W07 names no product: expected an SK, VN or UP id in W07-04..07 or a UPC in W07-03",
        w07.position,
        "W07",
    )


def read_transaction(tx: Transaction, interchange: Interchange, group_control: str) -> Receipt944:
    if tx.code != "944":
        raise X12Error(f"transaction set {tx.code} is not a 944", tx.segments[0].position, "ST")
    w17: Segment | None = None
    items: list[tuple[Segment, list[ReceiptException]]] = []
    w14: Segment | None = None
    for seg in tx.segments[1:-1]:
        if seg.id not in KNOWN_SEGMENTS:
            raise X12Error(f"unknown segment {seg.id} in a 944", seg.position, seg.id)
        if seg.id == "W17":
            w17 = seg
        elif seg.id == "W07":
            items.append((seg, []))
        elif seg.id == "W13":
            if not items:
                raise X12Error("W13 exception before any W07 item", seg.position, "W13")
            items[-1][1].append(ReceiptException(_quantity(seg, 1), seg.get(3), seg.get(5)))
        elif seg.id == "W14":
            w14 = seg
    if w17 is None:
        raise X12Error("the 944 has no W17 header", tx.segments[0].position, "ST")
    if not w17.get(4):
        raise X12Error("W17-04 (the RA number) is empty", w17.position, "W17")
    result: list[ReceiptItem] = []
    for w07, exceptions in items:
        quantity = _quantity(w07, 1)
        if sum(e.quantity for e in exceptions) > quantity:
            raise X12Error(
                f"the W13 exceptions add up to more than the W07 quantity {quantity}",
                w07.position,
                "W07",
            )
        result.append(ReceiptItem(_sku(w07), quantity, tuple(exceptions)))
    if w14 is not None:
        total = _quantity(w14, 1)
        counted = sum(item.quantity for item in result)
        if total != counted:
            raise X12Error(
                f"W14-01 says {total} units received, the W07 lines add up to {counted}",
                w14.position,
                "W14",
            )
    return Receipt944(
        ra_number=w17.get(4),
        receipt_number=w17.get(3),
        received_on=w17.get(2),
        complete=w17.get(1) != PARTIAL_REPORTING_CODE,
        items=tuple(result),
        sender_id=interchange.sender_id,
        interchange_control=interchange.control_number,
        group_control=group_control,
        transaction_control=tx.control_number,
    )


def read(text: str) -> tuple[Interchange, list[Receipt944]]:
    """Every 944 in an interchange; any error refuses the whole document."""
    interchange = parse(text)
    receipts: list[Receipt944] = []
    for group in interchange.groups:
        for tx in group.transactions:
            receipts.append(read_transaction(tx, interchange, group.control_number))
    if not receipts:
        raise X12Error("the interchange holds no 944 transaction set", 1, "ISA")
    return interchange, receipts
