from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from returnhub.api.deps import Credentials, NoteWriter, Reader, Writer, require
from returnhub.api.pagination import Cursor, Limit, decode_cursor, next_cursor
from returnhub.api.schemas import NoteOut, ReturnList, ReturnOut, note_out, return_out
from returnhub.domain.errors import FieldError, InvalidInput
from returnhub.domain.lifecycle import ReturnAction, ReturnState
from returnhub.domain.untrusted import link_problem
from returnhub.runtime import Context
from returnhub.services import returns
from returnhub.services.commands import ActionIn, NoteIn, RefundIn, ReturnCreate
from returnhub.services.keys import Principal, Scope

router = APIRouter(prefix="/api/v1/returns", tags=["returns"])

# The warehouse reports what physically happened to a parcel; decisions about money and
# policy (authorize, reject, close …) stay with agents.
WAREHOUSE_ACTIONS = frozenset(
    {ReturnAction.SHIP, ReturnAction.RECEIVE, ReturnAction.FLAG, ReturnAction.PROCESS}
)


@router.post("", status_code=201, response_model=ReturnOut)
def create_return(body: ReturnCreate, ctx: Context, who: Writer) -> ReturnOut:
    url = body.status_page_url
    problem = link_problem(url, allow_http=ctx.settings.is_demo) if url else None
    if problem:
        # Shown as a link to agents and customers: a javascript: URL would run in their pages.
        error = FieldError("status_page_url", "unsafe_url", f"the status page URL {problem}")
        raise InvalidInput("unsafe status page URL", [error])
    with ctx.db.write() as session:
        ret = returns.create_return(session, body, ctx.policy, ctx.clock(), who.name)
        return return_out(ret, detail=True)


@router.get("", response_model=ReturnList)
def list_returns(
    ctx: Context,
    _: Reader,
    state: ReturnState | None = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ReturnList:
    with ctx.db.read() as session:
        rows = returns.list_returns(
            session,
            state=state,
            customer_id=customer_id,
            order_id=order_id,
            limit=limit,
            after=decode_cursor(cursor),
        )
        return ReturnList(data=[return_out(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.get("/{return_id}", response_model=ReturnOut)
def get_return(return_id: str, ctx: Context, _: Reader) -> ReturnOut:
    with ctx.db.read() as session:
        return return_out(returns.get_return(session, return_id), detail=True)


@router.post("/{return_id}/notes", status_code=201, response_model=NoteOut)
def add_note(return_id: str, body: NoteIn, ctx: Context, who: NoteWriter) -> NoteOut:
    with ctx.db.write() as session:
        return note_out(returns.add_note(session, return_id, body, who.name))


@router.post(
    "/{return_id}/refund",
    response_model=ReturnOut,
    summary="Record that the return's refund was issued",
)
def issue_refund(
    return_id: str, ctx: Context, who: Writer, body: Annotated[RefundIn | None, Body()] = None
) -> ReturnOut:
    with ctx.db.write() as session:
        ret = returns.issue_refund(session, return_id, body or RefundIn(), who.name, ctx.clock())
        return return_out(ret, detail=True)


class _ActionPrincipal:
    scope_note = (
        "Scopes: admin, agent (any one); warehouse too for "
        + ", ".join(sorted(a.value for a in WAREHOUSE_ACTIONS))
        + "."
    )

    def __call__(
        self, action: ReturnAction, request: Request, ctx: Context, credentials: Credentials
    ) -> Principal:
        needed = (Scope.AGENT, Scope.WAREHOUSE) if action in WAREHOUSE_ACTIONS else (Scope.AGENT,)
        return require(*needed)(request, ctx, credentials)


@router.post(
    "/{return_id}/{action}",
    response_model=ReturnOut,
    summary="Move a return through its lifecycle",
    description="Actions: "
    + ", ".join(a.value for a in ReturnAction)
    + ". An action not allowed from the current state answers 409 listing the allowed ones.",
)
def apply_action(
    return_id: str,
    action: ReturnAction,
    ctx: Context,
    who: Annotated[Principal, Depends(_ActionPrincipal())],
    body: Annotated[ActionIn | None, Body()] = None,
) -> ReturnOut:
    with ctx.db.write() as session:
        ret = returns.apply_action(
            session, return_id, action, body or ActionIn(), who.name, ctx.clock()
        )
        return return_out(ret, detail=True)
