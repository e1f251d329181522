"""Reading the 3PL's receipt: a 944 Warehouse Stock Transfer Receipt Advice (group RE).

- W17-01 reporting code, 02 receive date, 03 warehouse receipt number, 04 depositor order
  number (our RA number, from the 943's W06-02).
- W07-01 quantity received, 02 unit, 03 UPC case code, 04/05 and 06/07 product id pairs: the
  SKU is the SK id, else the VN (vendor) id, else the UP (UPC) id or W07-03.
- W13 (after its W07) item exception: 01 quantity, 03 receiving condition code (X12 element
  412), 05 damage reason code (element 853). Codes 02 (quantity short) and 03 (quantity over)
  are quantity exceptions: W13-01 is how many units short or over, W07-01 already counts what
  arrived, so they change no quantity and are no condition. Every other code is a condition of
  W13-01 of the W07 units; the rest arrived without exception.
- W14-01 total quantity received, checked against the W07 lines.

Quantities are X12 numbers (R): digits with at most a decimal point, within the element's
4010 length (W07-01 and W14-01 seven characters, W13-01 fifteen); we take whole units only.
Departures from the 4010 944 that do not change what we read (no N1 loop, no W14, a W13 for
damage without its damage reason) are kept as notes: the 997 says "accepted with errors".

[I] W17-01 "P" is read as a partial receipt (more to come); any other code means the 3PL has
closed its receipt of the ASN.
"""

from __future__ import annotations

import hashlib
import re
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
# Element 412, Receiving Condition Code: the quantity exceptions; every other code is a
# condition, read through the merchant's criteria.
QUANTITY_SHORT = "02"
QUANTITY_OVER = "03"
QUANTITY_EXCEPTIONS = frozenset({QUANTITY_SHORT, QUANTITY_OVER})
DAMAGED = "01"
GOOD_CONDITION = "07"
# The condition names used for element 412's condition codes unless the merchant's criteria
# map them otherwise (07, good condition, is the criteria's default condition).
CONDITION_NAMES = {
    DAMAGED: "damaged",
    "04": "quality_problem",
    "05": "incorrect_product",
    "06": "non_standard_container",
}
# Element 853, Damage Reason Code (4010), for W13-05.
DAMAGE_REASONS = {
    "BD": "bulkhead doors not secured",
    "CC": "case crushing",
    "CD": "case design",
    "DL": "damage loading",
    "DP": "defective pallets or slip sheets",
    "FL": "flaps loose",
    "HD": "hidden damage",
    "ID": "improper doorway protection",
    "IL": "improper loading",
    "IU": "improper unloading",
    "LD": "lack of cardboard dividers or dunnage",
    "LS": "load shift",
    "NO": "nails or other hardware",
    "NR": "not reported",
    "PP": "pallet pattern",
    "PS": "punctured bailers or cases",
    "SF": "side fillers not extended",
    "TE": "temperature exposure",
    "UE": "unsuitable equipment",
    "VI": "vehicle impact",
    "WC": "wet or stained",
}
# 4010 maximum lengths of the elements we keep: (segment, element) → characters.
MAX_LENGTHS = {
    ("W17", 3): 12,
    ("W17", 4): 22,
    ("W07", 1): 7,
    ("W07", 3): 12,
    ("W07", 5): 48,
    ("W07", 7): 48,
    ("W13", 1): 15,
    ("W13", 3): 2,
    ("W13", 5): 2,
    ("W14", 1): 7,
}
NUMBER = re.compile(r"\d*\.?\d*")


def damage_reason(code: str) -> str:
    """W13-05 for a person: the code and, when element 853 defines it, its meaning."""
    if not code:
        return ""
    meaning = DAMAGE_REASONS.get(code)
    return f"damage reason {code}: {meaning}" if meaning else f"damage reason {code}"


@dataclass(frozen=True)
class ReceiptException:
    quantity: int
    condition_code: str
    damage_code: str = ""

    @property
    def is_quantity(self) -> bool:
        return self.condition_code in QUANTITY_EXCEPTIONS


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
    # The set's content, separators and envelope aside: a resend matches it, a different
    # receipt under the same control numbers does not.
    fingerprint: str = ""
    notes: tuple[X12Error, ...] = ()
    position: int = 0  # of its ST, from ISA = 1


def _element(segment: Segment, index: int, *, required: bool = False) -> str:
    raw = segment.get(index)
    limit = MAX_LENGTHS.get((segment.id, index))
    if limit is not None and len(raw) > limit:
        raise X12Error(
            f"{segment.id}{index:02d} is {len(raw)} characters, at most {limit} allowed",
            segment.position,
            segment.id,
            element=index,
            element_code="5",
            value=raw,
        )
    if required and not raw:
        raise X12Error(
            f"{segment.id}{index:02d} is empty",
            segment.position,
            segment.id,
            element=index,
            element_code="1",
        )
    return raw


def _quantity(segment: Segment, index: int) -> int:
    raw = _element(segment, index, required=True)
    if not NUMBER.fullmatch(raw) or raw == ".":
        raise X12Error(
            f"{segment.id}{index:02d} {raw!r} is not a quantity (digits, at most one decimal "
            "point)",
            segment.position,
            segment.id,
            element=index,
            element_code="6",
            value=raw,
        )
    whole, _, fraction = raw.partition(".")
    if fraction.strip("0"):
        raise X12Error(
            f"{segment.id}{index:02d} {raw!r} is not a whole number of units",
            segment.position,
            segment.id,
            element=index,
            element_code="6",
            value=raw,
        )
    return int(whole or "0")


def fingerprint(tx: Transaction) -> str:
    canonical = "~".join("*".join(seg.elements) for seg in tx.segments)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sku(w07: Segment) -> str:
    ids = {w07.get(i): _element(w07, i + 1) for i in (4, 6) if w07.get(i)}
    if _element(w07, 3):
        ids.setdefault("UP", w07.get(3))
    for qualifier in SKU_QUALIFIERS:
        if ids.get(qualifier):
            return ids[qualifier]
    raise X12Error(
        "W07 names no product: expected an SK, VN or UP id in W07-04..07 or a UPC in W07-03",
        w07.position,
        "W07",
        element=5,
        element_code="2",
    )


def _exception(w13: Segment, notes: list[X12Error]) -> ReceiptException:
    quantity = _quantity(w13, 1)
    code = _element(w13, 3, required=True)
    damage = _element(w13, 5)
    if code == DAMAGED and not damage:
        # 4010: "W1305 is required when W1303 equals 01"; the damage is clear without it.
        notes.append(
            X12Error(
                "W13-05 (the damage reason) is empty for a W13-03 of 01 (damaged)",
                w13.position,
                "W13",
                element=5,
                element_code="2",
            )
        )
    return ReceiptException(quantity, code, damage)


def read_transaction(tx: Transaction, interchange: Interchange, group_control: str) -> Receipt944:
    st, se = tx.segments[0], tx.segments[-1]
    if tx.code != "944":
        raise X12Error(f"transaction set {tx.code} is not a 944", st.position, "ST", set_code="1")
    w17: Segment | None = None
    items: list[tuple[Segment, list[ReceiptException]]] = []
    w14: Segment | None = None
    notes: list[X12Error] = []
    has_n1 = False
    for seg in tx.segments[1:-1]:
        if seg.id not in KNOWN_SEGMENTS:
            raise X12Error(
                f"unknown segment {seg.id} in a 944", seg.position, seg.id, segment_code="6"
            )
        if seg.id == "W17":
            w17 = seg
        elif seg.id == "N1":
            has_n1 = True
        elif seg.id == "W07":
            items.append((seg, []))
        elif seg.id == "W13":
            if not items:
                raise X12Error(
                    "W13 exception before any W07 item", seg.position, "W13", segment_code="7"
                )
            items[-1][1].append(_exception(seg, notes))
        elif seg.id == "W14":
            w14 = seg
    if w17 is None:
        raise X12Error("the 944 has no W17 header", st.position + 1, "W17", segment_code="3")
    ra_number = _element(w17, 4)
    if not ra_number:
        raise X12Error(
            "W17-04 (the RA number) is empty", w17.position, "W17", element=4, element_code="1"
        )
    if not has_n1:
        notes.append(X12Error("the 944 has no N1 loop", w17.position + 1, "N1", segment_code="3"))
    result: list[ReceiptItem] = []
    for w07, exceptions in items:
        quantity = _quantity(w07, 1)
        conditions = sum(e.quantity for e in exceptions if not e.is_quantity)
        if conditions > quantity:
            raise X12Error(
                f"the W13 condition exceptions add up to {conditions}, more than the W07 "
                f"quantity {quantity}",
                w07.position,
                "W07",
                element=1,
                element_code="6",
                value=w07.get(1),
            )
        result.append(ReceiptItem(_sku(w07), quantity, tuple(exceptions)))
    if not result:
        notes.append(X12Error("the 944 has no W07 item", se.position, "W07", segment_code="3"))
    if w14 is None:
        notes.append(X12Error("the 944 has no W14 total", se.position, "W14", segment_code="3"))
    else:
        total = _quantity(w14, 1)
        counted = sum(item.quantity for item in result)
        if total != counted:
            raise X12Error(
                f"W14-01 says {total} units received, the W07 lines add up to {counted}",
                w14.position,
                "W14",
                element=1,
                element_code="6",
                value=w14.get(1),
            )
    return Receipt944(
        ra_number=ra_number,
        receipt_number=_element(w17, 3),
        received_on=w17.get(2),
        complete=w17.get(1) != PARTIAL_REPORTING_CODE,
        items=tuple(result),
        sender_id=interchange.sender_id,
        interchange_control=interchange.control_number,
        group_control=group_control,
        transaction_control=tx.control_number,
        fingerprint=fingerprint(tx),
        notes=tuple(notes),
        position=st.position,
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


def find(text: str, group_control: str, transaction_control: str) -> Transaction | None:
    """One set of an interchange read before (to compare a resend with it)."""
    for group in parse(text).groups:
        if group.control_number == group_control:
            for tx in group.transactions:
                if tx.control_number == transaction_control:
                    return tx
    return None
