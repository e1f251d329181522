"""HTTP routes of the Gladly Lookup Adaptor: lookups and actions, under /integrations/gladly.

Every refusal and failure, the wrong method and a busy database included, is in Gladly's error
shape ``{"errors": [{"attr", "code", "detail"}]}`` (see errors.py). Authentication is checked
over the raw request (see auth.py) before anything is parsed.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from returnhub.api.gladly import actions
from returnhub.api.gladly.auth import GladlyAuthError, authenticate
from returnhub.api.gladly.errors import (
    ACTION_RESPONSES,
    GLADLY_FAILURES,
    GladlyRoute,
    gladly_body,
    gladly_error_doc,
)
from returnhub.api.plain import PlainRequest, PlainResponse, PlainRoute, json_response
from returnhub.connectors.gladly import contract
from returnhub.domain.routing import CustomerSnapshot
from returnhub.domain.untrusted import UntrustedInput, check_json, load_json
from returnhub.runtime import AppContext, Context
from returnhub.services import customer_lookup, linking, routing
from returnhub.services.customer_lookup import Profile
from returnhub.store.prepared import ReadCursor

router = APIRouter(prefix="/integrations/gladly", tags=["gladly"], route_class=GladlyRoute)

# Every query key may be a string or an array of strings (see connectors/gladly/contract.py).
STRINGS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
LOOKUP_OPENAPI: dict[str, Any] = {
    "tags": ["gladly"],
    "summary": "Gladly Lookup Adaptor (BASIC and DETAILED)",
    "operationId": "gladly_lookup",
    "description": "Gladly's lookup contract: `lookupLevel`, `query`, `uniqueMatchRequired`. "
    "Authenticated by Gladly-Authorization request signing, Basic auth or a header token, "
    "whichever are configured. Errors use Gladly's shape `{errors: [{attr, code, detail}]}`.",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["lookupLevel", "query", "uniqueMatchRequired"],
                    "properties": {
                        "lookupLevel": {"type": "string", "enum": ["BASIC", "DETAILED"]},
                        "query": {
                            "type": "object",
                            "properties": {
                                key: STRINGS
                                for key in (
                                    "email",
                                    "emails",
                                    "phone",
                                    "phones",
                                    "name",
                                    "orderNumber",
                                    "orderNumbers",
                                )
                            },
                        },
                        "uniqueMatchRequired": {"type": "boolean"},
                    },
                    "if": {"properties": {"lookupLevel": {"const": "DETAILED"}}},
                    "then": {
                        "properties": {
                            "uniqueMatchRequired": {"const": True},
                            "query": {
                                "required": ["externalCustomerId"],
                                "properties": {
                                    "externalCustomerId": {
                                        "type": ["string", "integer"],
                                        "pattern": "\\S",
                                    }
                                },
                            },
                        }
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "`{results: [...]}`: BASIC candidates, or at most one DETAILED profile",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **gladly_error_doc(400, "Malformed lookup request (`attr` names the field)"),
        **GLADLY_FAILURES,
    },
}


def gladly_errors(status: int, errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status)


async def _authenticated_body(request: Request, ctx: AppContext) -> bytes | JSONResponse:
    limit = ctx.settings.webhook_max_body_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return gladly_errors(
                413, [{"attr": "body", "code": "too_long", "detail": f"over {limit} bytes"}]
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        authenticate(
            request.method, request.url.path, request.url.query, headers, body, ctx.settings
        )
    except GladlyAuthError as exc:
        return gladly_errors(401, [_auth_error(exc)])
    return body


def _auth_error(exc: GladlyAuthError) -> dict[str, str]:
    return {"attr": exc.attr, "code": "invalid", "detail": exc.detail}


def _gladly_error(status: int, attr: str, detail: str, code: str = "invalid") -> PlainResponse:
    return json_response(status, {"errors": [{"attr": attr, "code": code, "detail": detail}]})


async def lookup(ctx: AppContext, request: PlainRequest) -> PlainResponse:
    """``POST /integrations/gladly/lookup``: a plain-ASGI route (see api/plain.py), since
    Gladly calls it for every conversation an agent opens."""
    if request.body is None:
        return _gladly_error(413, "body", "the lookup request is too large", "too_long")
    try:
        authenticate(
            request.method,
            request.path,
            request.query,
            request.headers,
            request.body,
            ctx.settings,
        )
    except GladlyAuthError as exc:
        return json_response(401, {"errors": [_auth_error(exc)]})
    try:
        payload = orjson.loads(request.body)
        check_json(payload)
    except orjson.JSONDecodeError:
        return _gladly_error(400, "body", "the body is not valid JSON")
    except UntrustedInput as exc:
        return _gladly_error(400, exc.field or "body", exc.message)
    try:
        parsed = contract.parse_request(payload)
    except contract.GladlyRequestError as exc:
        return json_response(400, {"errors": exc.errors})
    answer, viewed = await ctx.read(lambda: _answer_lookup(ctx, parsed))
    if viewed is not None and viewed.linked_systems:
        # Pulls from linked systems run in the background, never inside Gladly's budget; only
        # queueing them is done here, a write, so on the thread pool (it may wait for a lock).
        await run_in_threadpool(_refresh_linked, ctx, viewed)
    return json_response(200, answer)


def _refresh_linked(ctx: AppContext, customer: customer_lookup.CustomerView) -> None:
    with ctx.db.write() as session:
        linking.refresh_on_view(session, customer, ctx.clock())


def lookup_route(ctx: AppContext) -> PlainRoute:
    async def handle(request: PlainRequest) -> PlainResponse:
        return await lookup(ctx, request)

    return PlainRoute(
        "/integrations/gladly/lookup",
        "POST",
        handle,
        max_body=lambda: ctx.settings.webhook_max_body_bytes,
        openapi=LOOKUP_OPENAPI,
        error_body=gladly_body,
    )


def _answer_lookup(
    ctx: AppContext, parsed: contract.LookupRequest
) -> tuple[dict[str, Any], customer_lookup.CustomerView | None]:
    """The answer, and the customer whose profile was viewed (DETAILED). Reads only."""
    region = ctx.settings.default_phone_region
    base_url = ctx.settings.base_url.rstrip("/")
    if parsed.level is contract.Level.DETAILED:
        assert parsed.external_customer_id is not None
        customer_id = parsed.external_customer_id

        def detailed(reader: ReadCursor) -> tuple[Profile, CustomerSnapshot] | None:
            found = customer_lookup.profile(reader, customer_id)
            if found is None:
                return None
            latest = found.orders[0] if found.orders else None
            tags = found.customer.tags or ()
            return found, routing.snapshot_from_loaded(reader, tags, found.returns, latest)

        loaded = ctx.db.run_read(detailed)
        if loaded is None:
            return {"results": []}, None
        found, snapshot = loaded
        now = ctx.clock()
        extra = routing.gladly_attributes(ctx.settings, snapshot, now)
        return {"results": [contract.detailed_result(found, now, base_url, extra)]}, found.customer

    def basic(reader: ReadCursor) -> list[customer_lookup.Candidate]:
        if parsed.auto_link:
            match = customer_lookup.auto_link(reader, parsed.query, region)
            return [match] if match is not None else []
        return customer_lookup.search(reader, parsed.query, region)

    matches = ctx.db.run_read(basic)
    return {"results": [contract.basic_result(candidate) for candidate in matches]}, None


@router.get("/actions/{action}/form", summary="A Gladly Action's form", responses=ACTION_RESPONSES)
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


@router.post(
    "/actions/{action}/submit", summary="Submit a Gladly Action", responses=ACTION_RESPONSES
)
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
        data = load_json(body or b"{}")
    except json.JSONDecodeError:
        return gladly_errors(
            400, [{"attr": "body", "code": "invalid", "detail": "the body is not valid JSON"}]
        )
    except UntrustedInput as exc:
        error = {"attr": exc.field or "body", "code": "invalid", "detail": exc.message}
        return gladly_errors(400, [error])
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
