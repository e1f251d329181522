"""Inbound webhooks: verify over the raw bytes, store durably, answer; apply later.

``POST /webhooks/{source}`` is the hub's busiest endpoint (a platform replays thousands of events
after an outage): a plain-ASGI route (see api/plain.py).
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from returnhub.api.plain import PlainRequest, PlainResponse, PlainRoute, error_body, json_response
from returnhub.connectors.signatures import SignatureError
from returnhub.connectors.webhook_sources import SOURCES, dedupe_key
from returnhub.delivery import inbox
from returnhub.domain.untrusted import UntrustedInput, load_json
from returnhub.runtime import AppContext

log = structlog.get_logger(__name__)


def _error(status: int, code: str, message: str) -> PlainResponse:
    return json_response(status, {"errors": [{"field": "", "code": code, "message": message}]})


async def receive_webhook(ctx: AppContext, request: PlainRequest) -> PlainResponse:
    """The answer to one delivery."""
    source, headers, body = request.params["source"], request.headers, request.body
    spec = SOURCES.get(source)
    if spec is None:
        return _error(
            404,
            "unknown_source",
            f"no webhook source {source!r}; use one of {', '.join(sorted(SOURCES))}",
        )
    if body is None:
        limit = ctx.settings.webhook_max_body_bytes
        return _error(413, "body_too_large", f"webhook bodies are limited to {limit} bytes")
    secret = spec.secret(ctx.settings)
    if not secret:
        return _error(
            401,
            "source_not_configured",
            f"{spec.display_name} webhooks are not accepted yet: set {spec.env_var()} on this hub",
        )
    try:
        spec.verify(secret, body, headers, spec.secret_hint)
    except SignatureError as exc:
        return _error(401, "bad_signature", str(exc))
    backlog = ctx.backlog
    if backlog is not None and backlog.shedding:
        # Accepting more than the worker can apply in time only hides the delay from the
        # sender; refused, it retries later (and its own dashboards show the pushback).
        latest = backlog.latest
        return json_response(
            503,
            {
                "errors": [
                    {
                        "field": "",
                        "code": "backlog_full",
                        "message": f"{latest.unapplied_events} events are waiting to be "
                        f"applied (the oldest for {latest.oldest_unapplied_seconds:.0f} s); "
                        f"send this one again in {backlog.retry_after} s",
                    }
                ]
            },
            [(b"retry-after", str(backlog.retry_after).encode())],
        )
    try:
        payload = load_json(body)
    except json.JSONDecodeError as exc:
        return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
    except UntrustedInput as exc:
        # A signed event the ledger could never store: refused for good (a 4xx is not retried;
        # a 503 from the database would be, forever).
        where = f" at {exc.field}" if exc.field else ""
        return _error(422 if exc.code == "invalid_text" else 400, exc.code, exc.message + where)
    if not isinstance(payload, dict):
        return _error(400, "malformed_json", "the body must be a JSON object")
    kept = {h: headers[h] for h in spec.kept_headers if h in headers}
    try:
        event_type = spec.event_type(payload, headers)
        lock_key = spec.lock_key(payload, headers)
        key = dedupe_key(spec, payload, headers, body)
    except (AttributeError, KeyError, TypeError, ValueError):
        # An odd shape is still a verified event: keep it; mapping will report what is wrong.
        event_type, lock_key, key = "", None, dedupe_key(spec, {}, {}, body)

    # Committed with the other webhooks arriving now, on the writer thread (never on the event
    # loop); answered only after the commit.
    try:
        accepted = await ctx.intake_writer.run(
            inbox.IncomingEvent(source, key, event_type, body, kept, lock_key)
        )
    except SQLAlchemyError as exc:
        log.error("webhook_not_stored", source=source, error=str(exc)[:200])
        return _error(
            503, "database_unavailable", "the event was not stored; send it again shortly"
        )
    if accepted.duplicate:
        return json_response(200, {"status": "duplicate", "id": accepted.inbox_id})
    return json_response(202, {"status": "accepted", "id": accepted.inbox_id})


def _answer(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


OPENAPI: dict[str, Any] = {
    "tags": ["webhooks"],
    "summary": "Receive a signed webhook from Loop, Shopify, ReturnLogic or a generic sender",
    "operationId": "receive_webhook",
    "parameters": [
        {
            "name": "source",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": sorted(SOURCES)},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "202": _answer(
            "Stored durably; it will be applied to the ledger shortly",
            {"status": "accepted", "id": "inb_…"},
        ),
        "200": _answer(
            "Duplicate of an event already stored; nothing changed",
            {"status": "duplicate", "id": "inb_…"},
        ),
        **error_body(400, "The body is not a JSON object"),
        **error_body(401, "Missing or wrong signature, or the source has no secret configured"),
        **error_body(404, "Unknown source"),
        **error_body(413, "Body over RETURNHUB_WEBHOOK_MAX_BODY_BYTES"),
        **error_body(422, "Text no ledger can store (a NUL character, a lone surrogate)"),
        **error_body(
            503,
            "The database is unavailable, or too many events wait to be applied "
            "(Retry-After says when to send again)",
        ),
    },
}


def route(ctx: AppContext) -> PlainRoute:
    async def handle(request: PlainRequest) -> PlainResponse:
        return await receive_webhook(ctx, request)

    return PlainRoute(
        "/webhooks/{source}",
        "POST",
        handle,
        max_body=lambda: ctx.settings.webhook_max_body_bytes,
        openapi=OPENAPI,
    )
