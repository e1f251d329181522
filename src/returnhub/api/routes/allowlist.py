from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from returnhub.api.deps import Reader, Writer
from returnhub.api.schemas import AllowlistList, AllowlistOut, allowlist_out
from returnhub.runtime import Context
from returnhub.services import allowlist
from returnhub.services.commands import AllowlistIn

router = APIRouter(prefix="/api/v1/allowlist", tags=["allowlist"])


@router.post("", status_code=201, response_model=AllowlistOut)
def add_entry(body: AllowlistIn, ctx: Context, who: Writer) -> AllowlistOut:
    with ctx.db.write() as session:
        return allowlist_out(allowlist.add_entry(session, body, who.name))


@router.get("", response_model=AllowlistList)
def list_entries(
    ctx: Context,
    _: Reader,
    kind: Literal["order", "email"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AllowlistList:
    with ctx.db.read() as session:
        return AllowlistList(
            data=[allowlist_out(a) for a in allowlist.list_entries(session, kind, limit)]
        )


@router.delete("/{entry_id}", status_code=204, response_class=Response)
def delete_entry(entry_id: str, ctx: Context, _: Writer) -> Response:
    with ctx.db.write() as session:
        allowlist.delete_entry(session, entry_id)
    return Response(status_code=204)
