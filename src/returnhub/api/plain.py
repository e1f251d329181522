"""Plain-ASGI endpoints ahead of FastAPI's routing, for the machine-facing hot paths.

Webhook intake and Gladly's lookups are called by other systems, hundreds of times a second at
peaks, and use nothing FastAPI offers (no schema validation, no dependencies; they authenticate
by signature over the raw body). FastAPI's routing, dependency solving and response classes cost
more CPU than their whole work, so they are answered here, inside the metrics and error
middleware. The OpenAPI document still describes them: ``install`` adds their path items.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class PlainRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # names lower-cased
    params: Mapping[str, str]  # from the path template
    body: bytes | None  # None: over the route's size limit (the rest was not read)


@dataclass(frozen=True)
class PlainResponse:
    status: int
    body: bytes
    headers: Sequence[tuple[bytes, bytes]] = ()


def json_response(
    status: int, payload: Any, headers: Sequence[tuple[bytes, bytes]] = ()
) -> PlainResponse:
    # orjson: a tenth of json.dumps's CPU for a DETAILED answer, which Gladly asks for on
    # every conversation an agent opens.
    return PlainResponse(status, orjson.dumps(payload), headers)


Handler = Callable[[PlainRequest], Awaitable[PlainResponse]]
# Our error list ``[{field, code, message}]`` → the body a route's callers read.
ErrorBody = Callable[[list[dict[str, Any]]], Any]


def ledger_errors(errors: list[dict[str, Any]]) -> Any:
    return {"errors": errors}


@dataclass(frozen=True)
class PlainRoute:
    """``template`` is an exact path or ``/prefix/{name}`` (one path segment)."""

    template: str
    method: str
    handler: Handler
    max_body: Callable[[], int]
    openapi: dict[str, Any] = field(default_factory=dict)
    # The shape of this route's refusals and failures (Gladly's lookups have their own).
    error_body: ErrorBody = ledger_errors

    def match(self, path: str) -> dict[str, str] | None:
        prefix, brace, rest = self.template.partition("{")
        if not brace:
            return {} if path == self.template else None
        if not path.startswith(prefix):
            return None
        value = path[len(prefix) :]
        if not value or "/" in value:
            return None
        return {rest.rstrip("}"): value}


# An exception nothing handled → status, our error list and headers (``errors.failure_answer``).
OnError = Callable[[Exception, str], tuple[int, list[dict[str, Any]], Mapping[str, str] | None]]


class PlainEndpoints:
    """ASGI middleware: answers its routes itself; everything else passes through.

    It sits outside FastAPI's own middleware (see ``install``), so a route's exception is
    answered here, by ``on_error``, the way FastAPI's handlers would answer it."""

    def __init__(self, app: ASGIApp, routes: Sequence[PlainRoute], on_error: OnError) -> None:
        self.app = app
        self.routes = [(route, SimpleNamespace(path=route.template)) for route in routes]
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            allowed: list[PlainRoute] = []
            for route, label in self.routes:
                params = route.match(path)
                if params is None:
                    continue
                scope["route"] = label  # metrics label requests by template
                if route.method == scope["method"]:
                    await self._handle(route, params, scope, receive, send)
                    return
                allowed.append(route)
            if allowed:
                await _send(send, _method_not_allowed(scope["method"], allowed))
                return
        await self.app(scope, receive, send)

    async def _handle(
        self,
        route: PlainRoute,
        params: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        try:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            request = PlainRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                params=params,
                body=await _read_capped(headers, receive, route.max_body()),
            )
            answer = await route.handler(request)
        except Exception as exc:  # answered like any other route's failure, never a trace
            status, errors, extra = self.on_error(exc, scope["path"])
            answer = json_response(
                status,
                route.error_body(errors),
                [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()],
            )
        await _send(send, answer)


def _method_not_allowed(method: str, routes: list[PlainRoute]) -> PlainResponse:
    """405 in the shape of the path's own routes, naming every method the path serves."""
    served = ", ".join(sorted(route.method for route in routes))
    error = {
        "field": "",
        "code": "method_not_allowed",
        "message": f"{method} is not served here; use {served}",
    }
    return json_response(405, routes[0].error_body([error]), [(b"allow", served.encode())])


async def _send(send: Send, answer: PlainResponse) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer.body)).encode()),
                *answer.headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})


async def _read_capped(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes | None:
    """The body, or None once it exceeds ``limit`` bytes (without reading the rest)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; what arrived fails the signature check
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def install(
    app: FastAPI,
    routes: Sequence[PlainRoute],
    on_error: OnError,
    outermost: Callable[[ASGIApp], ASGIApp] = lambda inner: inner,
) -> None:
    """Answer ``routes`` ahead of FastAPI's whole middleware stack (its error, telemetry and
    body-limit layers and its router cost ~30 µs a request, a tenth of a Gladly lookup), inside
    ``outermost`` (the metrics middleware, which counts every request), and describe them in
    the OpenAPI document."""
    # Listed beside FastAPI's routes so that whoever enumerates the app's routes (the scope
    # table in tests/security) sees these too.
    app.state.plain_routes = tuple(routes)
    build_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return outermost(PlainEndpoints(build_stack(), routes, on_error))

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_schema()
            for route in routes:
                if route.openapi:
                    schema["paths"].setdefault(route.template, {})[route.method.lower()] = (
                        route.openapi
                    )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_body(
    status: int, description: str, shape: str = "ErrorResponse"
) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI response entry for a JSON error list: ours, or Gladly's
    (``GladlyErrorResponse``)."""
    return {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}},
        }
    }
