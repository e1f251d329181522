"""The ASN we send the 3PL: a 943 Warehouse Stock Transfer Shipment Advice (group AR).

Used here, as the 943 allows, to "authorize a warehouse to accept a return from a customer".
W06-02 carries the RA number; the 3PL echoes it back in the 944's W17-04.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from returnhub.connectors.edi.x12 import Party, Separators, clean, write

FUNCTIONAL_ID = "AR"


@dataclass(frozen=True)
class AsnLine:
    sku: str
    quantity: int
    title: str = ""


@dataclass(frozen=True)
class Asn:
    ra_number: str
    return_number: str
    customer_name: str
    carrier: str
    tracking_number: str
    lines: Sequence[AsnLine]


def _reference(qualifier: str, value: str) -> list[str]:
    """An N9: N9-02 holds 30 characters; a longer reference goes in N9-03 (45) instead."""
    if len(value) <= 30:
        return ["N9", qualifier, value]
    return ["N9", qualifier, "", value[:45].strip()]


def body(asn: Asn, when: datetime, seps: Separators) -> list[list[str]]:
    """In the 4010 order (ST, W06, N1 loop, N9, G61, G62, NTE, W27, W28, W10, W04 loop, W03),
    each element within its length: an independent validator checks this in the tests."""
    date = when.strftime("%Y%m%d")
    # W27-02 (the carrier's SCAC) is 2 to 4 characters.
    carrier = clean(asn.carrier, seps)[:4].strip().upper()
    segments: list[list[str]] = [
        # W06: reporting code N (new), depositor order number = RA, date, shipment id.
        ["W06", "N", asn.ra_number, date, asn.ra_number],
        ["N1", "SF", clean(asn.customer_name, seps)[:60].strip() or "CUSTOMER"],
    ]
    # An element may not be empty once cleaned: a reference or title of blanks is left out.
    for qualifier, reference in (("RZ", asn.return_number), ("CN", asn.tracking_number)):
        if value := clean(reference, seps):
            segments.append(_reference(qualifier, value))
    segments += [
        ["G62", "10", date],
        # W27 is mandatory: transportation method (U: private parcel service) and carrier.
        ["W27", "U", carrier if len(carrier) >= 2 else "UNKN"],
    ]
    for line in asn.lines:
        segments.append(["W04", str(line.quantity), "EA", "", "SK", clean(line.sku, seps)])
        if title := clean(line.title, seps)[:45].strip():
            segments.append(["G69", title])
    segments.append(["W03", str(sum(line.quantity for line in asn.lines))])
    return segments


def build(
    asn: Asn,
    *,
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
        transactions=[("943", body(asn, when, seps))],
        separators=seps,
    )
