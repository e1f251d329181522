"""The warehouse and ERP flow, one idempotent step per outbox job:

return authorized → ``create_ra`` → ``transmit`` (ASN, EDI 943) → receipt recorded (944 file,
CLI import or API) → ``reconcile`` → ``apply`` (ledger transition; Loop process/flag + note) →
``close``. Every step checks the RA's state first, so a step re-run after a crash does nothing
twice. All jobs of one return share the lane ``warehouse:<return id>`` and run in order; the
lane is our own so a stuck help-desk job never holds up a receipt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from returnhub.connectors.edi import ack997, asn943, receipt944
from returnhub.connectors.edi.x12 import Party, X12Error, envelope
from returnhub.delivery import outbox
from returnhub.domain import reconciliation as rec
from returnhub.domain.errors import Conflict, FieldError, NotFound
from returnhub.domain.ids import Prefix, new_id
from returnhub.domain.lifecycle import ReturnAction, ReturnState, allowed_actions
from returnhub.services import returns
from returnhub.services.commands import ActionIn, NoteIn
from returnhub.services.events import record_timeline
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.dialects import dialect_of, upsert
from returnhub.store.tables import (
    EdiControlNumber,
    RaLine,
    ReceiptLine,
    Return,
    ReturnAuthorization,
    ReturnItem,
    WarehouseReceipt,
)

TRANSMIT_JOB = "warehouse.transmit"
RECONCILE_JOB = "warehouse.reconcile"
APPLY_DECISION_JOB = "warehouse.apply"
LOOP_ACTION_JOB = "warehouse.loop_action"
LOOP_NOTE_JOB = "warehouse.loop_note"
CLOSE_JOB = "warehouse.close_ra"
ACK_JOB = "warehouse.ack_997"
SCAN_JOB = "warehouse.scan_inbound"


def lane(return_public_id: str) -> str:
    """The lock key of every warehouse job about one return: they run in order. Our own lane,
    so a stuck help-desk job never holds up a receipt."""
    return f"warehouse:{return_public_id}"


ACTOR = "warehouse"
DEFAULT_CRITERIA = Path(__file__).resolve().parent.parent / "warehouse" / "criteria.yaml"
# The largest receipt document read, over the API and from the inbound folder alike.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


class RaState(StrEnum):
    OPEN = "open"
    TRANSMITTED = "transmitted"
    RECEIVED = "received"
    DECIDED = "decided"
    CLOSED = "closed"


class ReceiptStatus(StrEnum):
    RECORDED = "recorded"
    # No RA carries its number (yet): kept, shown, and attached if that RA is created later.
    PARKED = "parked"
    # Arrived after the RA was decided: kept for the record, not reconciled again.
    LATE = "late"


# --- criteria -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _criteria_from(path: str, mtime: float) -> rec.Criteria:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise rec.CriteriaError(f"{path}: expected a mapping at the top level")
    return rec.Criteria.from_mapping(data, path)


def criteria_path(settings: Settings) -> Path:
    return Path(settings.warehouse_criteria_file.strip() or DEFAULT_CRITERIA)


def load_criteria(settings: Settings) -> rec.Criteria:
    path = criteria_path(settings)
    return _criteria_from(str(path), path.stat().st_mtime)


# --- steps ----------------------------------------------------------------------------------


def _ra(session: Session, public_id: str, *, for_update: bool = False) -> ReturnAuthorization:
    query = (
        select(ReturnAuthorization)
        .where(ReturnAuthorization.public_id == public_id)
        .options(selectinload(ReturnAuthorization.lines))
    )
    if for_update:
        query = query.with_for_update()
    ra = session.scalar(query)
    if ra is None:
        raise NotFound(
            "RA not found",
            [FieldError("ra_id", "not_found", f"no return authorization {public_id}")],
        )
    return ra


def find_ra(session: Session, id_or_number: str) -> ReturnAuthorization:
    """By public id (``ra_…``) or by RA number (what the 3PL and the CLI user see)."""
    ra_id = session.scalar(
        select(ReturnAuthorization.public_id).where(
            (ReturnAuthorization.public_id == id_or_number)
            | (ReturnAuthorization.number == id_or_number)
        )
    )
    return _ra(session, ra_id or id_or_number)


def _return_of(session: Session, ra: ReturnAuthorization) -> Return:
    public_id = session.scalar(select(Return.public_id).where(Return.id == ra.return_id))
    assert public_id is not None
    return returns.get_return(session, public_id, for_update=True)


def create_ra(
    session: Session, return_public_id: str, settings: Settings, now: datetime
) -> ReturnAuthorization:
    """The RA for a return, with its expected lines; the existing one when it already exists."""
    ret = returns.get_return(session, return_public_id, for_update=True)
    existing = session.scalar(
        select(ReturnAuthorization.public_id).where(ReturnAuthorization.return_id == ret.id)
    )
    if existing is not None:
        return _ra(session, existing)
    items: Sequence[ReturnItem] = ret.items
    ra = ReturnAuthorization(
        public_id=new_id(Prefix.RETURN_AUTHORIZATION),
        number=ret.number,
        return_id=ret.id,
        state=RaState.OPEN.value,
        currency=ret.currency,
        lines=[
            RaLine(
                position=n,
                sku=item.order_line.sku,
                title=item.order_line.title,
                quantity=item.quantity,
                expected_condition=item.expected_condition,
                unit_price=item.order_line.unit_price,
            )
            for n, item in enumerate(items)
        ],
    )
    session.add(ra)
    record_timeline(ret, "warehouse.ra_created", f"RA {ra.number} created", ACTOR)
    session.flush()
    if settings.warehouse_auto_transmit:
        request_transmit(session, ra, ret.public_id)
    # A receipt that arrived before its RA was created waited for it.
    parked = session.scalars(
        select(WarehouseReceipt).where(
            WarehouseReceipt.ra_number == ra.number,
            WarehouseReceipt.status == ReceiptStatus.PARKED.value,
        )
    ).all()
    for receipt in parked:
        _attach(session, receipt, ra, ret.public_id, now)
    return ra


def request_transmit(session: Session, ra: ReturnAuthorization, return_public_id: str) -> bool:
    if ra.state == RaState.CLOSED.value:
        raise Conflict(
            "RA closed",
            [FieldError("ra_id", "ra_closed", f"RA {ra.number} is closed; nothing to transmit")],
        )
    return outbox.enqueue(
        session,
        TRANSMIT_JOB,
        {"ra_id": ra.public_id},
        lock_key=lane(return_public_id),
        dedupe_key=f"{TRANSMIT_JOB}:{ra.public_id}",
    )


def next_control_number(session: Session, scope: str) -> int:
    """The next ISA13/GS06 for ``scope``, counted in the database so every worker shares it."""
    session.execute(
        upsert(dialect_of(session), EdiControlNumber)
        .values(scope=scope, value=0)
        .on_conflict_do_nothing(index_elements=["scope"])
    )
    row = session.scalar(
        select(EdiControlNumber).where(EdiControlNumber.scope == scope).with_for_update()
    )
    assert row is not None
    # ISA13 has nine digits; wrap around rather than overflow.
    row.value = row.value % 999_999_999 + 1
    return row.value


def parties(settings: Settings) -> tuple[Party, Party]:
    return (
        Party(settings.edi_sender_qualifier, settings.edi_sender_id),
        Party(settings.edi_receiver_qualifier, settings.edi_receiver_id),
    )


def prepare_asn(session: Session, ra_public_id: str, settings: Settings, now: datetime) -> bool:
    """Transmit, phase 1: number the 943 and store it in the RA, once; a retry reuses it, so
    the 3PL never sees two control numbers for one RA. False when the RA is closed."""
    ra = _ra(session, ra_public_id, for_update=True)
    if ra.state == RaState.CLOSED.value:
        return False
    if ra.asn_text:
        return True
    ret = _return_of(session, ra)
    sender, receiver = parties(settings)
    control = next_control_number(session, f"isa:{sender.qualifier}:{sender.id}")
    asn = asn943.Asn(
        ra_number=ra.number,
        return_number=ret.number,
        customer_name=ret.customer.name,
        carrier=ret.label_carrier,
        tracking_number=ret.label_tracking_number,
        lines=[asn943.AsnLine(line.sku, line.quantity, line.title) for line in ra.lines],
    )
    ra.asn_control_number = control
    ra.asn_text = asn943.build(
        asn, sender=sender, receiver=receiver, control_number=control, when=now
    )
    ra.asn_file = f"943_{ra.number}_{control:09d}.edi"
    return True


def write_atomically(directory: Path, name: str, text: str) -> Path:
    """Write then rename, so the 3PL's pickup never sees half a file; the same name and content
    on a retry simply replaces it."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    temp = directory / f".{name}.tmp"
    with temp.open("w", encoding="ascii", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(target)
    return target


def mark_transmitted(
    session: Session, ra_public_id: str, settings: Settings, now: datetime
) -> None:
    """Transmit, phase 3: the ASN left; start watching the inbound folder."""
    ra = _ra(session, ra_public_id, for_update=True)
    if ra.transmitted_at is not None:
        return
    ra.transmitted_at = now
    if ra.state == RaState.OPEN.value:
        ra.state = RaState.TRANSMITTED.value
    ret = _return_of(session, ra)
    where = f" as {ra.asn_file}" if settings.warehouse_adapter == "edi" else ""
    record_timeline(
        ret, "warehouse.asn_sent", f"ASN (943 #{ra.asn_control_number}) sent{where}", ACTOR
    )
    if settings.warehouse_adapter == "edi":
        schedule_scan(session, settings, now)


@dataclass(frozen=True)
class ReceiptLineIn:
    sku: str
    quantity: int
    condition: str
    condition_code: str = ""
    damage_code: str = ""


@dataclass(frozen=True)
class EdiSet:
    """Where a receipt read from a 944 lies in its interchange."""

    group_control: str
    transaction_control: str
    position: int  # of its ST, from ISA = 1
    sender_id: str
    interchange_control: str


@dataclass(frozen=True)
class ReceiptIn:
    ra_number: str
    lines: Sequence[ReceiptLineIn]
    complete: bool
    receipt_number: str
    source: str
    document: str
    dedupe_key: str
    # The content a resend under the same ``dedupe_key`` must match to be a duplicate.
    fingerprint: str = ""
    edi: EdiSet | None = None


class ReceiptReused(ValueError):
    """Another receipt was recorded under the same identity (control numbers, or RA and
    receipt number) with different content."""

    def __init__(self, data: ReceiptIn, existing: WarehouseReceipt) -> None:
        if data.edi is not None:
            e = data.edi
            what = (
                f"the control numbers ISA13 {e.interchange_control}, GS06 {e.group_control}, "
                f"ST02 {e.transaction_control} from {e.sender_id} were already used by a "
                "different 944"
            )
            fix = "send this receipt under new control numbers"
        else:
            what = (
                f"receipt number {data.receipt_number!r} of RA {data.ra_number} was already "
                "used by a different receipt"
            )
            fix = "give this receipt its own receipt_number"
        super().__init__(
            f"{what} (receipt {existing.public_id}, recorded {existing.created_at:%Y-%m-%d %H:%M}"
            f" UTC): {fix}; an identical resend is a duplicate, a changed one is refused"
        )
        self.existing_id = existing.public_id


def edi_condition(code: str, criteria: rec.Criteria) -> str:
    """The merchant's name for a W13 receiving condition code (element 412): their criteria
    first, then X12's meaning (07, good condition, is the criteria's default condition)."""
    if code in criteria.condition_codes:
        return criteria.condition_codes[code]
    if code == receipt944.GOOD_CONDITION:
        return criteria.default_condition
    return receipt944.CONDITION_NAMES.get(code) or f"receiving condition {code}"


def _lines_of(item: receipt944.ReceiptItem, criteria: rec.Criteria) -> list[ReceiptLineIn]:
    """W07-01 is what arrived, counted once: quantity exceptions (W13-03 02 short, 03 over)
    add no line, conditions split the W07 units."""
    conditions = [e for e in item.exceptions if not e.is_quantity]
    lines: list[ReceiptLineIn] = []
    good = item.quantity - sum(e.quantity for e in conditions)
    if good:
        lines.append(ReceiptLineIn(item.sku, good, criteria.default_condition))
    for e in conditions:
        if e.quantity:
            lines.append(
                ReceiptLineIn(
                    item.sku,
                    e.quantity,
                    edi_condition(e.condition_code, criteria),
                    e.condition_code,
                    e.damage_code,
                )
            )
    return lines


def receipts_from_edi(text: str, criteria: rec.Criteria) -> tuple[list[ReceiptIn], list[X12Error]]:
    """The receipts in a 944 interchange and what it departs from the standard in (tolerated);
    raises X12Error (with the segment position) for anything invalid."""
    _, found = receipt944.read(text)
    out: list[ReceiptIn] = []
    notes: list[X12Error] = []
    for r in found:
        identity = f"944|{r.sender_id}|{r.interchange_control}|{r.group_control}|"
        identity += r.transaction_control
        out.append(
            ReceiptIn(
                ra_number=r.ra_number,
                lines=[line for item in r.items for line in _lines_of(item, criteria)],
                complete=r.complete,
                receipt_number=r.receipt_number,
                source="edi",
                document=text,
                dedupe_key=hashlib.sha256(identity.encode()).hexdigest(),
                fingerprint=r.fingerprint,
                edi=EdiSet(
                    r.group_control,
                    r.transaction_control,
                    r.position,
                    r.sender_id,
                    r.interchange_control,
                ),
            )
        )
        notes += r.notes
    return out, notes


def receipt_from_json(body: dict[str, Any], criteria: rec.Criteria) -> ReceiptIn:
    """A JSON receipt (already validated by the API schema)."""
    number = str(body.get("receipt_number") or "")
    identity = (
        f"json|{body['ra_number']}|{number}"
        if number
        else "json|" + json.dumps(body, sort_keys=True, separators=(",", ":"))
    )
    document = json.dumps(body, sort_keys=True)
    lines: list[ReceiptLineIn] = []
    for line in body["lines"]:
        given = str(line.get("condition") or "")
        lines.append(
            ReceiptLineIn(
                str(line["sku"]),
                int(line["quantity"]),
                criteria.condition(given),
                # Only a code the criteria map is a 3PL's condition code; a name is not.
                given if given in criteria.condition_codes else "",
            )
        )
    return ReceiptIn(
        ra_number=str(body["ra_number"]),
        lines=lines,
        complete=bool(body.get("complete", True)),
        receipt_number=number,
        source="json",
        document=document,
        dedupe_key=hashlib.sha256(identity.encode()).hexdigest(),
        fingerprint=hashlib.sha256(document.encode()).hexdigest(),
    )


def import_edi(
    session: Session, text: str, settings: Settings, now: datetime
) -> list[tuple[WarehouseReceipt, bool]]:
    """Record every 944 of an interchange (all or nothing) and queue its 997. Raises X12Error
    for a document refused; :func:`refuse_edi` then acknowledges it."""
    found, notes = receipts_from_edi(text, load_criteria(settings))
    results: list[tuple[WarehouseReceipt, bool]] = []
    for data in found:
        try:
            results.append(record_receipt(session, data, now))
        except ReceiptReused as exc:
            assert data.edi is not None
            raise X12Error(str(exc), data.edi.position, "ST", set_code="7") from None
    if settings.warehouse_adapter == "edi":
        enqueue_ack(session, text, notes=notes)
    return results


def refuse_edi(session: Session, text: str, error: X12Error, settings: Settings) -> bool:
    """Queue the 997 rejecting a document refused by :func:`import_edi` (in its own
    transaction: the import's was rolled back). False when no 997 can be addressed."""
    if settings.warehouse_adapter != "edi":
        return False
    return enqueue_ack(session, text, errors=[error])


def _stored_fingerprint(existing: WarehouseReceipt, data: ReceiptIn) -> str:
    if data.edi is None:
        return hashlib.sha256(existing.document.encode()).hexdigest()
    tx = receipt944.find(existing.document, data.edi.group_control, data.edi.transaction_control)
    return receipt944.fingerprint(tx) if tx is not None else ""


def _same_or_refused(existing: WarehouseReceipt, data: ReceiptIn) -> WarehouseReceipt:
    if data.fingerprint and _stored_fingerprint(existing, data) != data.fingerprint:
        raise ReceiptReused(data, existing)
    return existing


def record_receipt(
    session: Session, data: ReceiptIn, now: datetime
) -> tuple[WarehouseReceipt, bool]:
    """Store a receipt once (True) or find the identical copy stored before (False); raises
    ReceiptReused for a different receipt under the same identity."""
    existing = session.scalar(
        select(WarehouseReceipt).where(WarehouseReceipt.dedupe_key == data.dedupe_key)
    )
    if existing is not None:
        return _same_or_refused(existing, data), False
    receipt = WarehouseReceipt(
        public_id=new_id(Prefix.RECEIPT),
        ra_number=data.ra_number,
        dedupe_key=data.dedupe_key,
        source=data.source,
        status=ReceiptStatus.PARKED.value,
        complete=data.complete,
        receipt_number=data.receipt_number,
        document=data.document,
        error="",
        created_at=now,
        lines=[
            ReceiptLine(
                sku=line.sku,
                quantity=line.quantity,
                condition=line.condition,
                condition_code=line.condition_code,
                damage_code=line.damage_code,
            )
            for line in data.lines
        ],
    )
    try:
        with session.begin_nested():
            session.add(receipt)
            session.flush()
    except IntegrityError:
        # The same document arrived through another door at the same moment.
        existing = session.scalar(
            select(WarehouseReceipt).where(WarehouseReceipt.dedupe_key == data.dedupe_key)
        )
        assert existing is not None
        return _same_or_refused(existing, data), False
    ra_id = session.scalar(
        select(ReturnAuthorization.public_id).where(ReturnAuthorization.number == data.ra_number)
    )
    if ra_id is None:
        receipt.error = (
            f"no RA is numbered {data.ra_number!r}: check W17-04 (the 944's depositor order "
            "number must be the RA number sent in the 943's W06-02); the receipt is parked and "
            "will be reconciled if that RA is created"
        )
        return receipt, True
    ra = _ra(session, ra_id, for_update=True)
    ret_id = session.scalar(select(Return.public_id).where(Return.id == ra.return_id))
    assert ret_id is not None
    _attach(session, receipt, ra, ret_id, now)
    return receipt, True


def _attach(
    session: Session,
    receipt: WarehouseReceipt,
    ra: ReturnAuthorization,
    return_public_id: str,
    now: datetime,
) -> None:
    receipt.ra_id = ra.id
    if ra.state in (RaState.DECIDED.value, RaState.CLOSED.value):
        receipt.status = ReceiptStatus.LATE.value
        receipt.error = f"RA {ra.number} was already {ra.decision or ra.state}; not reconciled"
        return
    receipt.status = ReceiptStatus.RECORDED.value
    receipt.error = ""
    ra.state = RaState.RECEIVED.value
    ra.first_received_at = ra.first_received_at or now
    ra.receipt_complete = ra.receipt_complete or receipt.complete
    units = sum(line.quantity for line in receipt.lines)
    ret = _return_of(session, ra)
    record_timeline(
        ret, "warehouse.receipt", f"warehouse receipt {receipt.public_id}: {units} units", ACTOR
    )
    outbox.enqueue(
        session,
        RECONCILE_JOB,
        {"ra_id": ra.public_id},
        lock_key=lane(return_public_id),
        dedupe_key=f"{RECONCILE_JOB}:{receipt.public_id}",
    )


def reconcile_ra(
    session: Session, ra_public_id: str, criteria: rec.Criteria, now: datetime
) -> rec.Decision | None:
    """Decide once every receipt is in (or waiting is over); None when already decided."""
    ra = _ra(session, ra_public_id, for_update=True)
    if ra.state != RaState.RECEIVED.value:
        return None
    assert ra.first_received_at is not None
    received = session.scalars(
        select(ReceiptLine)
        .join(WarehouseReceipt)
        .where(
            WarehouseReceipt.ra_id == ra.id,
            WarehouseReceipt.status == ReceiptStatus.RECORDED.value,
        )
    ).all()
    decision = rec.reconcile(
        [rec.ExpectedLine(line.sku, line.quantity, line.unit_price) for line in ra.lines],
        [
            rec.ReceivedLine(
                line.sku,
                line.quantity,
                line.condition,
                receipt944.damage_reason(line.damage_code),
            )
            for line in received
        ],
        criteria,
        complete=ra.receipt_complete,
        first_received_at=ra.first_received_at,
        now=now,
        ra_number=ra.number,
        currency=ra.currency,
    )
    ret = _return_of(session, ra)
    if decision.outcome is rec.Outcome.WAIT:
        assert decision.wait_until is not None
        record_timeline(
            ret,
            "warehouse.waiting",
            f"partial receipt: waiting for the rest until {decision.wait_until.isoformat()}",
            ACTOR,
        )
        outbox.enqueue(
            session,
            RECONCILE_JOB,
            {"ra_id": ra.public_id},
            # Outside the lane: a job waiting days would hold up every later job of the return
            # (the rest of the receipt among them). The RA row lock keeps the two apart.
            lock_key=None,
            dedupe_key=f"{RECONCILE_JOB}:{ra.public_id}:{decision.wait_until.isoformat()}",
            run_at=decision.wait_until,
        )
        return decision
    ra.decision = decision.outcome.value
    ra.decision_detail = decision.as_dict()
    ra.decided_at = now
    ra.state = RaState.DECIDED.value
    record_timeline(ret, "warehouse.decided", decision.note, ACTOR)
    outbox.enqueue(
        session,
        APPLY_DECISION_JOB,
        {"ra_id": ra.public_id},
        lock_key=lane(ret.public_id),
        dedupe_key=f"{APPLY_DECISION_JOB}:{ra.public_id}",
    )
    return decision


# Ledger moves for a decision, from each state; a state missing here cannot take the decision
# (e.g. the return was cancelled meanwhile) and the RA records why.
LEDGER_PATHS: dict[str, dict[ReturnState, tuple[ReturnAction, ...]]] = {
    "process": {
        ReturnState.AUTHORIZED: (ReturnAction.RECEIVE, ReturnAction.PROCESS),
        ReturnState.IN_TRANSIT: (ReturnAction.RECEIVE, ReturnAction.PROCESS),
        ReturnState.RECEIVED: (ReturnAction.PROCESS,),
        ReturnState.PROCESSED: (),
        ReturnState.CLOSED: (),
    },
    "flag": {
        ReturnState.AUTHORIZED: (ReturnAction.RECEIVE, ReturnAction.FLAG),
        ReturnState.IN_TRANSIT: (ReturnAction.RECEIVE, ReturnAction.FLAG),
        ReturnState.RECEIVED: (ReturnAction.FLAG,),
        ReturnState.FLAGGED: (),
    },
}


def apply_decision(session: Session, ra_public_id: str, now: datetime) -> bool:
    """Move the ledger copy, note why, and queue the source system's calls; False when the
    decision was applied before."""
    ra = _ra(session, ra_public_id, for_update=True)
    if ra.applied_at is not None or ra.state != RaState.DECIDED.value:
        return False
    ret = _return_of(session, ra)
    detail = ra.decision_detail
    note = str(detail.get("note", ""))
    path = LEDGER_PATHS[ra.decision].get(ReturnState(ret.state))
    if path is None:
        allowed = ", ".join(allowed_actions(ReturnState(ret.state))) or "none"
        note += (
            f" The ledger return is {ret.state} and cannot be {ra.decision}ed automatically "
            f"(allowed: {allowed}); review it by hand."
        )
        path = ()
    for action in path:
        returns.apply_action(
            session,
            ret.public_id,
            action,
            ActionIn(message=f"warehouse: {action.value}"),
            ACTOR,
            now,
        )
    returns.add_note(session, ret.public_id, NoteIn(body=note, author=ACTOR), ACTOR)
    if ret.source_system == "loop" and ret.external_id:
        lock = lane(ret.public_id)
        outbox.enqueue(
            session,
            LOOP_ACTION_JOB,
            {"ra_id": ra.public_id, "loop_return_id": ret.external_id, "action": ra.decision},
            connector="loop",
            lock_key=lock,
            dedupe_key=f"{LOOP_ACTION_JOB}:{ra.public_id}",
        )
        if ra.decision == "flag" or detail.get("discrepancies"):
            outbox.enqueue(
                session,
                LOOP_NOTE_JOB,
                {"ra_id": ra.public_id, "loop_return_id": ret.external_id, "content": note},
                connector="loop",
                lock_key=lock,
                dedupe_key=f"{LOOP_NOTE_JOB}:{ra.public_id}",
            )
    ra.applied_at = now
    outbox.enqueue(
        session,
        CLOSE_JOB,
        {"ra_id": ra.public_id},
        lock_key=lane(ret.public_id),
        dedupe_key=f"{CLOSE_JOB}:{ra.public_id}",
    )
    return True


def close_ra(session: Session, ra_public_id: str, now: datetime) -> bool:
    ra = _ra(session, ra_public_id, for_update=True)
    if ra.state == RaState.CLOSED.value:
        return False
    ra.state = RaState.CLOSED.value
    ra.closed_at = now
    ret = _return_of(session, ra)
    record_timeline(ret, "warehouse.ra_closed", f"RA {ra.number} closed", ACTOR)
    return True


# --- EDI files ------------------------------------------------------------------------------


def schedule_scan(session: Session, settings: Settings, now: datetime) -> bool:
    """Queue the next inbound-folder scan, at most one per interval (the dedupe key is the
    interval's number)."""
    interval = settings.warehouse_scan_seconds
    run_at = now + timedelta(seconds=interval)
    slot = int(run_at.timestamp() // interval)
    return outbox.enqueue(
        session,
        SCAN_JOB,
        {},
        lock_key="warehouse:scan",
        dedupe_key=f"{SCAN_JOB}:{slot}",
        run_at=run_at,
    )


def awaiting_receipts(session: Session) -> int:
    waiting = (RaState.TRANSMITTED.value, RaState.RECEIVED.value)
    return (
        session.scalar(
            select(func.count())
            .select_from(ReturnAuthorization)
            .where(ReturnAuthorization.state.in_(waiting))
        )
        or 0
    )


def enqueue_ack(
    session: Session,
    text: str,
    *,
    errors: Sequence[X12Error] = (),
    notes: Sequence[X12Error] = (),
) -> bool:
    """The 997 for a 944 interchange: accepted, accepted with ``notes`` or rejected for
    ``errors``. One per document (sender, ISA13 and content): a different document reusing the
    control numbers gets its own. False when the envelope cannot be read (nobody to answer)
    or the interchange holds only acknowledgments."""
    env = envelope(text)
    if env is None:
        return False
    groups = ack997.plan(env, errors, notes)
    if not groups:
        return False
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return outbox.enqueue(
        session,
        ACK_JOB,
        {
            "receiver": [env.sender_qualifier, env.sender_id],
            "groups": [group.as_dict() for group in groups],
        },
        lock_key="warehouse:ack",
        dedupe_key=f"{ACK_JOB}:{env.sender_id}|{env.control_number}|{digest}",
    )


def build_ack(payload: dict[str, Any], settings: Settings, control: int, now: datetime) -> str:
    if "groups" in payload:
        groups = [ack997.GroupAck.from_dict(g) for g in payload["groups"]]
        qualifier, receiver_id = (str(v) for v in payload["receiver"])
    else:
        # A job queued before 997s carried their plan: it acknowledged an accepted document.
        env = envelope(str(payload["document"]))
        assert env is not None
        groups = ack997.plan(env, [])
        qualifier, receiver_id = env.sender_qualifier, env.sender_id
    sender, _ = parties(settings)
    return ack997.build(
        groups=groups,
        sender=sender,
        receiver=Party(qualifier, receiver_id),
        control_number=control,
        when=now,
    )


# --- reading --------------------------------------------------------------------------------


def list_ras(
    session: Session, state: RaState | None, limit: int, after: int | None
) -> list[ReturnAuthorization]:
    query = select(ReturnAuthorization).options(
        selectinload(ReturnAuthorization.lines), selectinload(ReturnAuthorization.return_)
    )
    if state is not None:
        query = query.where(ReturnAuthorization.state == state.value)
    if after is not None:
        query = query.where(ReturnAuthorization.id < after)
    return list(session.scalars(query.order_by(ReturnAuthorization.id.desc()).limit(limit)).all())


def receipts_of(session: Session, ra: ReturnAuthorization) -> list[WarehouseReceipt]:
    return list(
        session.scalars(
            select(WarehouseReceipt)
            .where(WarehouseReceipt.ra_id == ra.id)
            .options(selectinload(WarehouseReceipt.lines))
            .order_by(WarehouseReceipt.id)
        ).all()
    )


def parked_receipts(session: Session, limit: int = 100) -> list[WarehouseReceipt]:
    return list(
        session.scalars(
            select(WarehouseReceipt)
            .where(WarehouseReceipt.status == ReceiptStatus.PARKED.value)
            .options(selectinload(WarehouseReceipt.lines))
            .order_by(WarehouseReceipt.id)
            .limit(limit)
        ).all()
    )


def get_receipt(session: Session, public_id: str) -> WarehouseReceipt:
    receipt = session.scalar(
        select(WarehouseReceipt)
        .where(WarehouseReceipt.public_id == public_id)
        .options(selectinload(WarehouseReceipt.lines))
    )
    if receipt is None:
        raise NotFound(
            "receipt not found",
            [FieldError("receipt_id", "not_found", f"no warehouse receipt {public_id}")],
        )
    return receipt


def transmit_now(
    db: Database, settings: Settings, ra_id: str, now: datetime
) -> tuple[bool, Path | None]:
    """Number and store the 943 (once), write it to the outbound folder (edi adapter), mark
    the RA transmitted. Each phase is safe to repeat. False when the RA is closed; the path
    written, if any."""
    with db.write() as session:
        ra_id = find_ra(session, ra_id).public_id  # the CLI user may give the RA number
        if not prepare_asn(session, ra_id, settings, now):
            return False, None
    with db.read() as session:
        ra = find_ra(session, ra_id)
        ra_public_id, name, text = ra.public_id, ra.asn_file, ra.asn_text
    path = None
    if settings.warehouse_adapter == "edi":
        path = write_atomically(Path(settings.warehouse_outbound_dir), name, text)
    with db.write() as session:
        mark_transmitted(session, ra_public_id, settings, now)
    return True, path
