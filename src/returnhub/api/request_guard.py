"""The guard in front of every page and API route (the plain-ASGI webhook and Gladly lookup
routes cap their own bodies, see api/plain.py): what a stranger may send before anything
reads it.

- Every body is limited to RETURNHUB_MAX_BODY_BYTES (a route may have its own cap, such as
  the warehouse's EDI receipts): a declared Content-Length over it is refused before one byte
  is read, and a streamed body is counted as it arrives (413).
- ``/api/`` routes authenticate the API key before the body is read: FastAPI reads and parses
  a body before it solves a route's dependencies, so without this anyone could make the
  server parse a megabyte of JSON.
- Text that cannot be stored (a NUL, a lone surrogate, absurd JSON; see domain/untrusted) is
  refused in paths, query strings, form posts and API bodies (400/422), never a 500 from
  PostgreSQL.
- The API documentation and /metrics answer only to an admin key unless they are public
  (RETURNHUB_DOCS_PUBLIC, RETURNHUB_METRICS_PUBLIC; public in demo mode by default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from returnhub.api.deps import BEARER, PRINCIPAL_STATE, require
from returnhub.domain.untrusted import UntrustedInput, load_json
from returnhub.runtime import AppContext
from returnhub.services.keys import Scope as KeyScope

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
METRICS_PATH = "/metrics"

_any_key = require(*KeyScope)
_admin_key = require()


def _error(code: str, message: str, field: str = "") -> list[dict[str, Any]]:
    return [{"field": field, "code": code, "message": message}]


def docs_public(ctx: AppContext) -> bool:
    setting = ctx.settings.docs_public
    return ctx.settings.is_demo if setting is None else setting


def metrics_public(ctx: AppContext) -> bool:
    setting = ctx.settings.metrics_public
    return ctx.settings.is_demo if setting is None else setting


def _address_problem(scope: Scope) -> str | None:
    if "\x00" in scope["path"]:
        return "the path contains a NUL character"
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query.lower():
        return "the query string contains a NUL character (%00)"
    return None


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            text: str = value.decode("latin-1")
            return text.split(";")[0].strip().lower()
    return ""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


class _CheckedBody:
    """``receive`` that counts the body against its limit and refuses NUL bytes (and ``%00``
    in a form) as they arrive; with ``check_json`` the whole body is also checked as JSON
    once it has arrived. Refusals are HTTPExceptions, which FastAPI passes through its body
    parsing and answers with the ``errors`` list."""

    def __init__(self, receive: Receive, limit: int, *, form: bool, check_json: bool) -> None:
        self.receive = receive
        self.limit = limit
        self.form = form
        self.check_json = check_json
        self.size = 0
        self.tail = b""
        self.chunks: list[bytes] = []

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        self.size += len(chunk)
        if self.size > self.limit:
            raise HTTPException(
                413, _error("body_too_large", f"request bodies are limited to {self.limit} bytes")
            )
        # Two bytes of the last chunk: a "%00" may straddle two chunks.
        window = self.tail + chunk
        if b"\x00" in chunk or (self.form and b"%00" in window.lower()):
            raise HTTPException(400, _error("invalid_text", "the body contains a NUL character"))
        self.tail = window[-2:]
        if self.check_json:
            self.chunks.append(chunk)
            if not message.get("more_body", False):
                _check_json(b"".join(self.chunks))
        return message


def _check_json(body: bytes) -> None:
    if not body:
        return
    try:
        load_json(body)
    except json.JSONDecodeError:
        return  # not JSON at all: the route's own parsing says so, in its words
    except UntrustedInput as exc:
        status = 422 if exc.code == "invalid_text" else 400
        raise HTTPException(status, _error(exc.code, exc.message, exc.field)) from None


class RequestGuard:
    def __init__(self, app: ASGIApp, ctx: AppContext, route_limits: Mapping[str, int]) -> None:
        self.app = app
        self.ctx = ctx
        self.route_limits = dict(route_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] in BODY_METHODS:
            path: str = scope["path"]
            limit = self.route_limits.get(path, self.ctx.settings.max_body_bytes)
            form = _content_type(scope) == "application/x-www-form-urlencoded"
            is_json = _content_type(scope).endswith(("/json", "+json"))
            receive = _CheckedBody(
                receive, limit, form=form, check_json=is_json and path.startswith("/api/")
            )
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope) -> JSONResponse | None:
        problem = _address_problem(scope)
        if problem is not None:
            return JSONResponse({"errors": _error("invalid_text", problem)}, 400)
        path: str = scope["path"]
        if (path in DOCS_PATHS and not docs_public(self.ctx)) or (
            path == METRICS_PATH and not metrics_public(self.ctx)
        ):
            return await self._unauthenticated(scope, admin=True)
        if scope["method"] not in BODY_METHODS:
            return None
        path_limit = self.route_limits.get(path, self.ctx.settings.max_body_bytes)
        declared = _declared_length(scope)
        if declared is not None and declared > path_limit:
            message = f"request bodies are limited to {path_limit} bytes; this one has {declared}"
            return JSONResponse({"errors": _error("body_too_large", message)}, 413)
        if path.startswith("/api/"):
            return await self._unauthenticated(scope, admin=False)
        return None

    async def _unauthenticated(self, scope: Scope, *, admin: bool) -> JSONResponse | None:
        """The refusal of a request without a valid (admin) key, or None."""
        check = _admin_key if admin else _any_key
        try:
            # A database read: on the thread pool, like the route's own dependency.
            request = Request(scope)
            credentials = await BEARER(request)
            principal = await run_in_threadpool(check, request, self.ctx, credentials)
        except HTTPException as exc:
            code = "unauthorized" if exc.status_code == 401 else "forbidden"
            return JSONResponse(
                {"errors": _error(code, str(exc.detail))}, exc.status_code, dict(exc.headers or {})
            )
        # The route's own dependency takes it from here instead of reading the key again.
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        return None
