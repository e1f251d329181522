"""Warehouse and ERP: RAs with their ASN, receipts and decision; receipts posted by the 3PL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from returnhub.api.deps import require
from returnhub.api.openapi import inline_schema
from returnhub.api.pagination import Cursor, Limit, decode_cursor, next_cursor
from returnhub.connectors.edi.x12 import X12Error
from returnhub.domain.errors import Conflict, FieldError, InvalidInput
from returnhub.runtime import Context
from returnhub.services import warehouse as wh
from returnhub.services.keys import Principal, Scope
from returnhub.store.tables import ReturnAuthorization, WarehouseReceipt

router = APIRouter(prefix="/api/v1/warehouse", tags=["warehouse"])

WarehouseReader = Annotated[
    Principal, Depends(require(Scope.AGENT, Scope.HELPDESK, Scope.WAREHOUSE))
]
Transmitter = Annotated[Principal, Depends(require(Scope.AGENT, Scope.WAREHOUSE))]
WarehouseOnly = Annotated[Principal, Depends(require(Scope.WAREHOUSE))]
MAX_RECEIPT_BYTES = wh.MAX_DOCUMENT_BYTES


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptLineJson(Strict):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=1_000_000)
    condition: str = Field(default="", max_length=32, description="a condition name or code")


class ReceiptJson(Strict):
    ra_number: str = Field(min_length=1, max_length=40)
    receipt_number: str = Field(default="", max_length=64)
    complete: bool = Field(default=True, description="false: more receipts will follow")
    lines: list[ReceiptLineJson] = Field(min_length=1, max_length=10_000)


class RaLineOut(BaseModel):
    sku: str
    title: str
    quantity: int
    expected_condition: str
    unit_price: int


class ReceiptLineOut(BaseModel):
    sku: str
    quantity: int
    condition: str
    condition_code: str
    damage_code: str


class ReceiptOut(BaseModel):
    id: str
    ra_number: str
    status: str
    source: str
    complete: bool
    receipt_number: str
    error: str
    created_at: datetime
    lines: list[ReceiptLineOut]
    duplicate: bool = False


class RaOut(BaseModel):
    id: str
    number: str
    return_id: str
    return_state: str
    state: str
    currency: str
    asn_control_number: int | None
    asn_file: str
    transmitted_at: datetime | None
    decision: str
    decided_at: datetime | None
    closed_at: datetime | None
    lines: list[RaLineOut]


class RaDetail(RaOut):
    asn_text: str
    decision_detail: dict[str, Any]
    receipts: list[ReceiptOut]
    notes: list[str]


class RaList(BaseModel):
    data: list[RaOut]
    next_cursor: str | None


class ReceiptsAccepted(BaseModel):
    receipts: list[ReceiptOut]


def _ra_out(ra: ReturnAuthorization) -> dict[str, Any]:
    return {
        "id": ra.public_id,
        "number": ra.number,
        "return_id": ra.return_.public_id,
        "return_state": ra.return_.state,
        "state": ra.state,
        "currency": ra.currency,
        "asn_control_number": ra.asn_control_number,
        "asn_file": ra.asn_file,
        "transmitted_at": ra.transmitted_at,
        "decision": ra.decision,
        "decided_at": ra.decided_at,
        "closed_at": ra.closed_at,
        "lines": [
            RaLineOut(
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                expected_condition=line.expected_condition,
                unit_price=line.unit_price,
            )
            for line in ra.lines
        ],
    }


def _receipt_out(receipt: WarehouseReceipt, duplicate: bool = False) -> ReceiptOut:
    return ReceiptOut(
        id=receipt.public_id,
        ra_number=receipt.ra_number,
        status=receipt.status,
        source=receipt.source,
        complete=receipt.complete,
        receipt_number=receipt.receipt_number,
        error=receipt.error,
        created_at=receipt.created_at,
        lines=[
            ReceiptLineOut(
                sku=line.sku,
                quantity=line.quantity,
                condition=line.condition,
                condition_code=line.condition_code,
                damage_code=line.damage_code,
            )
            for line in receipt.lines
        ],
        duplicate=duplicate,
    )


@router.get("/ras", response_model=RaList, summary="Return authorizations, newest first")
def list_ras(
    ctx: Context,
    _: WarehouseReader,
    state: wh.RaState | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RaList:
    with ctx.db.read() as session:
        rows = wh.list_ras(session, state, limit, decode_cursor(cursor))
        return RaList(
            data=[RaOut(**_ra_out(ra)) for ra in rows], next_cursor=next_cursor(rows, limit)
        )


def _detail(ctx: Context, ra_id: str) -> RaDetail:
    with ctx.db.read() as session:
        ra = wh.find_ra(session, ra_id)
        notes = [n.body for n in ra.return_.notes if n.author == wh.ACTOR]
        return RaDetail(
            **_ra_out(ra),
            asn_text=ra.asn_text,
            decision_detail=ra.decision_detail,
            receipts=[_receipt_out(r) for r in wh.receipts_of(session, ra)],
            notes=notes,
        )


@router.get(
    "/ras/{ra_id}",
    response_model=RaDetail,
    summary="One RA (by id or RA number) with its ASN, receipts, decision and notes",
)
def get_ra(ra_id: str, ctx: Context, _: WarehouseReader) -> RaDetail:
    return _detail(ctx, ra_id)


@router.post(
    "/ras/{ra_id}/transmit",
    status_code=202,
    response_model=RaDetail,
    summary="Send the ASN (EDI 943) to the warehouse; the worker writes it",
)
def transmit(ra_id: str, ctx: Context, _: Transmitter) -> RaDetail:
    with ctx.db.write() as session:
        ra = wh.find_ra(session, ra_id)
        wh.request_transmit(session, ra, ra.return_.public_id)
    return _detail(ctx, ra_id)


@router.get("/receipts", response_model=ReceiptsAccepted, summary="Parked receipts")
def parked(ctx: Context, _: WarehouseReader) -> ReceiptsAccepted:
    with ctx.db.read() as session:
        return ReceiptsAccepted(receipts=[_receipt_out(r) for r in wh.parked_receipts(session)])


@router.get("/receipts/{receipt_id}", response_model=ReceiptOut)
def get_receipt(receipt_id: str, ctx: Context, _: WarehouseReader) -> ReceiptOut:
    with ctx.db.read() as session:
        return _receipt_out(wh.get_receipt(session, receipt_id))


@router.post(
    "/receipts",
    status_code=202,
    response_model=ReceiptsAccepted,
    summary="Record a warehouse receipt: EDI 944 text or JSON",
    responses={
        200: {"model": ReceiptsAccepted, "description": "Every receipt was recorded before"}
    },
    description="`Content-Type: application/edi-x12` or `text/plain`: a 944 interchange. "
    "`application/json`: `{ra_number, receipt_number?, complete?, lines: [{sku, quantity, "
    "condition}]}`. 202 when recorded (a receipt for an unknown RA is *parked*, with its "
    "error), 200 when every receipt was recorded before (an identical resend), 422 naming the "
    "segment and element position of invalid EDI (a 997 rejecting it is queued too), 409 when "
    "a JSON receipt_number was used by a different receipt; nothing is applied from an invalid "
    f"document. At most {wh.MAX_DOCUMENT_BYTES} bytes.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_schema(ReceiptJson)},
                "application/edi-x12": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_receipts(request: Request, ctx: Context, _: WarehouseOnly) -> JSONResponse:
    # Read no further than the limit: a huge body is refused without being held in memory.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_RECEIPT_BYTES:
            raise InvalidInput(
                "too large",
                [FieldError("body", "too_large", f"at most {MAX_RECEIPT_BYTES} bytes per request")],
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # Parsing and the write (which may wait for the write lock) run off the event loop.
    return await run_in_threadpool(_record, ctx, raw, content_type)


def _record(ctx: Context, raw: bytes, content_type: str) -> JSONResponse:
    now = ctx.clock()
    if content_type == "application/json":
        try:
            body = ReceiptJson.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidInput(
                "invalid receipt",
                [
                    FieldError(".".join(str(p) for p in e["loc"]), e["type"], str(e["msg"]))
                    for e in exc.errors()
                ],
            ) from None
        criteria = wh.load_criteria(ctx.settings)
        try:
            with ctx.db.write() as session:
                receipt, created = wh.record_receipt(
                    session, wh.receipt_from_json(body.model_dump(), criteria), now
                )
                results = [(receipt, created)]
                payload = ReceiptsAccepted(receipts=[_receipt_out(receipt, not created)])
        except wh.ReceiptReused as exc:
            raise Conflict(
                "receipt number reused",
                [
                    FieldError(
                        "receipt_number",
                        "receipt_number_reused",
                        str(exc),
                        {"receipt_id": exc.existing_id},
                    )
                ],
            ) from None
    elif content_type in ("application/edi-x12", "text/plain", "application/edi"):
        text = raw.decode("utf-8", errors="replace")
        try:
            with ctx.db.write() as session:
                results = wh.import_edi(session, text, ctx.settings, now)
                payload = ReceiptsAccepted(
                    receipts=[_receipt_out(r, not created) for r, created in results]
                )
        except X12Error as exc:
            with ctx.db.write() as session:
                wh.refuse_edi(session, text, exc, ctx.settings)
            where: dict[str, Any] = {"segment_position": exc.position, "segment": exc.segment}
            if exc.element:
                where["element_position"] = exc.element
            raise InvalidInput(
                "invalid EDI",
                [
                    FieldError(
                        "body",
                        "invalid_edi",
                        exc.detail,
                        where,
                    )
                ],
            ) from None
    else:
        raise InvalidInput(
            "unsupported content type",
            [
                FieldError(
                    "content-type",
                    "unsupported_media_type",
                    "send a 944 as application/edi-x12 (or text/plain), or a JSON receipt as "
                    f"application/json; got {content_type or 'none'}",
                )
            ],
        )
    status = 202 if any(created for _, created in results) else 200
    return JSONResponse(status_code=status, content=payload.model_dump(mode="json"))
