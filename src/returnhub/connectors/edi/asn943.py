"""The ASN we send the 3PL: a 943 Warehouse Stock Transfer Shipment Advice (group AR).

Used here, as the 943 allows, to "authorize a warehouse to accept a return from a customer".
W06-02 carries the RA number; the 3PL echoes it back in the 944's W17-04.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from returnhub.connectors.edi.x12 import Party, Separators, write

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


def _clean(value: str, seps: Separators) -> str:
    """X12 data may not contain a separator; replace them rather than refuse a product title."""
    for ch in (seps.element, seps.component, seps.segment, "\r", "\n"):
        value = value.replace(ch, " ")
    return value.strip()


def body(asn: Asn, when: datetime, seps: Separators) -> list[list[str]]:
    date = when.strftime("%Y%m%d")
    segments: list[list[str]] = [
        # W06: reporting code N (new), depositor order number = RA, date, shipment id.
        ["W06", "N", asn.ra_number, date, asn.ra_number],
        ["N1", "SF", _clean(asn.customer_name, seps) or "CUSTOMER"],
        ["N9", "RZ", asn.return_number],
        ["G62", "10", date],
        # W27 is mandatory: transportation method (U: private parcel service) and carrier.
        ["W27", "U", _clean(asn.carrier, seps)[:4].upper() or "UNKN"],
    ]
    if asn.tracking_number:
        segments.append(["N9", "CN", _clean(asn.tracking_number, seps)])
    for line in asn.lines:
        segments.append(["W04", str(line.quantity), "EA", "", "SK", _clean(line.sku, seps)])
        if line.title:
            segments.append(["G69", _clean(line.title, seps)[:45]])
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
