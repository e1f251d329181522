"""Inbound webhooks: verify over the raw bytes, store durably, answer; apply later."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from returnhub.api.deps import Context
from returnhub.connectors.signatures import SignatureError
from returnhub.connectors.webhook_sources import SOURCES, dedupe_key
from returnhub.delivery import inbox

router = APIRouter(tags=["webhooks"])


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"field": "", "code": code, "message": message}]}, status_code=status
    )


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None once it exceeds ``limit`` bytes (without reading the rest)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/webhooks/{source}",
    summary="Receive a signed webhook from Loop, Shopify, ReturnLogic or a generic sender",
    responses={
        200: {"description": "Duplicate of an event already stored; nothing changed"},
        202: {"description": "Stored durably; it will be applied to the ledger shortly"},
    },
)
async def receive_webhook(source: str, request: Request, ctx: Context) -> JSONResponse:
    spec = SOURCES.get(source)
    if spec is None:
        return _error(
            404,
            "unknown_source",
            f"no webhook source {source!r}; use one of {', '.join(sorted(SOURCES))}",
        )
    limit = ctx.settings.webhook_max_body_bytes
    body = await _read_capped(request, limit)
    if body is None:
        return _error(413, "body_too_large", f"webhook bodies are limited to {limit} bytes")
    secret = spec.secret(ctx.settings)
    if not secret:
        return _error(
            401,
            "source_not_configured",
            f"{spec.display_name} webhooks are not accepted yet: set {spec.env_var()} on this hub",
        )
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        spec.verify(secret, body, headers, spec.secret_hint)
    except SignatureError as exc:
        return _error(401, "bad_signature", str(exc))
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _error(400, "malformed_json", f"the body is not valid JSON: {exc}")
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

    def store(connection: Connection) -> inbox.Accepted:
        return inbox.accept(
            connection,
            source=source,
            dedupe_key=key,
            event_type=event_type,
            body=body,
            headers=kept,
            lock_key=lock_key,
        )

    # Committed with the other webhooks arriving now, on the writer thread (never on the event
    # loop); answered only after the commit.
    accepted = await ctx.intake_writer.run(store)
    status = "duplicate" if accepted.duplicate else "accepted"
    return JSONResponse(
        {"status": status, "id": accepted.inbox_id}, status_code=200 if accepted.duplicate else 202
    )
