"""HTTP routes of the Gladly Lookup Adaptor: lookups and actions, under /integrations/gladly.

Errors use Gladly's shape ``{"errors": [{"attr", "code", "detail"}]}``. Authentication is
checked over the raw request (see auth.py) before anything is parsed.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from returnhub.api.deps import AppContext, Context
from returnhub.api.gladly import actions, contract
from returnhub.api.gladly.auth import GladlyAuthError, authenticate
from returnhub.domain.lifecycle import OPEN_STATES
from returnhub.services import customer_lookup, linking, routing
from returnhub.store.tables import Customer, Return

router = APIRouter(prefix="/integrations/gladly", tags=["gladly"])


def gladly_errors(status: int, errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status)


async def _authenticated_body(request: Request, ctx: AppContext) -> bytes | JSONResponse:
    body = await request.body()
    try:
        authenticate(request, body, ctx.settings)
    except GladlyAuthError as exc:
        return gladly_errors(401, [{"attr": exc.attr, "code": "invalid", "detail": exc.detail}])
    return body


def _counts(session: Session, customers: list[Customer]) -> dict[int, tuple[int, int]]:
    """(open, lifetime) return counts per customer, in one query for the whole result list."""
    if not customers:
        return {}
    rows = session.execute(
        select(Return.customer_id, Return.state, func.count())
        .where(Return.customer_id.in_([c.id for c in customers]))
        .group_by(Return.customer_id, Return.state)
    ).all()
    counts: dict[int, tuple[int, int]] = {}
    open_values = {s.value for s in OPEN_STATES}
    for customer_id, state, n in rows:
        open_n, all_n = counts.get(customer_id, (0, 0))
        counts[customer_id] = (open_n + (n if state in open_values else 0), all_n + n)
    return counts


@router.post("/lookup", summary="Gladly Lookup Adaptor (BASIC and DETAILED)")
async def lookup(request: Request, ctx: Context) -> JSONResponse:
    body = await _authenticated_body(request, ctx)
    if isinstance(body, JSONResponse):
        return body
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return gladly_errors(
            400, [{"attr": "body", "code": "invalid", "detail": "the body is not valid JSON"}]
        )
    try:
        parsed = contract.parse_request(payload)
    except contract.GladlyRequestError as exc:
        return gladly_errors(400, exc.errors)
    # Database work blocks: run it on the thread pool, never on the event loop.
    return await run_in_threadpool(_answer_lookup, ctx, parsed)


def _answer_lookup(ctx: AppContext, parsed: contract.LookupRequest) -> JSONResponse:
    region = ctx.settings.default_phone_region
    base_url = ctx.settings.base_url.rstrip("/")
    if parsed.level is contract.Level.DETAILED:
        with ctx.db.read() as session:
            assert parsed.external_customer_id is not None
            found = customer_lookup.profile(session, parsed.external_customer_id)
            if found is None:
                return JSONResponse({"results": []})
            now = ctx.clock()
            snapshot = routing.snapshot_from_loaded(
                session,
                found.customer.tags or (),
                found.returns,
                found.orders[0] if found.orders else None,
            )
            extra = routing.gladly_attributes(session, ctx.settings, found.customer, now, snapshot)
            answer = JSONResponse(
                {"results": [contract.detailed_result(found, now, base_url, extra)]}
            )
            has_links = bool(linking.links_of(session, found.customer))
        if has_links:
            # Pulls from linked systems run in the background, never inside Gladly's budget.
            with ctx.db.write() as session:
                linking.refresh_on_view(session, found.customer, now)
        return answer
    with ctx.db.read() as session:
        if parsed.auto_link:
            match = customer_lookup.auto_link(session, parsed.query, region)
            customers = [match] if match is not None else []
        else:
            customers = customer_lookup.search(session, parsed.query, region)
        counts = _counts(session, customers)
        results = [contract.basic_result(c, *counts.get(c.id, (0, 0))) for c in customers]
    return JSONResponse({"results": results})


@router.get("/actions/{action}/form", summary="A Gladly Action's form")
async def action_form(action: str, request: Request, ctx: Context) -> JSONResponse:
    body = await _authenticated_body(request, ctx)
    if isinstance(body, JSONResponse):
        return body
    spec = actions.ACTIONS.get(action)
    if spec is None:
        return gladly_errors(
            404, [{"attr": "action", "code": "invalid", "detail": f"no action {action!r}"}]
        )
    params = dict(request.query_params)

    def answer() -> JSONResponse:
        with ctx.db.read() as session:
            try:
                action_ctx = actions.load_context(
                    session,
                    ctx.settings,
                    ctx.policy,
                    ctx.clock(),
                    params.get("customer", ""),
                    params.get("order"),
                )
            except actions.ActionError as exc:
                return gladly_errors(400, exc.errors)
            return JSONResponse(spec[0](action_ctx))

    return await run_in_threadpool(answer)


@router.post("/actions/{action}/submit", summary="Submit a Gladly Action")
async def action_submit(action: str, request: Request, ctx: Context) -> JSONResponse:
    body = await _authenticated_body(request, ctx)
    if isinstance(body, JSONResponse):
        return body
    spec = actions.ACTIONS.get(action)
    if spec is None:
        return gladly_errors(
            404, [{"attr": "action", "code": "invalid", "detail": f"no action {action!r}"}]
        )
    try:
        data = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return gladly_errors(
            400, [{"attr": "body", "code": "invalid", "detail": "the body is not valid JSON"}]
        )
    if not isinstance(data, dict):
        return gladly_errors(
            400, [{"attr": "body", "code": "invalid", "detail": "the body must be an object"}]
        )
    params = dict(request.query_params)

    def submit() -> JSONResponse:
        try:
            with ctx.db.write() as session:
                action_ctx = actions.load_context(
                    session,
                    ctx.settings,
                    ctx.policy,
                    ctx.clock(),
                    params.get("customer", ""),
                    params.get("order"),
                )
                result = spec[1](action_ctx, data)
        except actions.ActionError as exc:
            return gladly_errors(400, exc.errors)
        return JSONResponse(result)

    return await run_in_threadpool(submit)
