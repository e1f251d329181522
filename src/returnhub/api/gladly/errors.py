"""Gladly's error shape, ``{"errors": [{"attr", "code", "detail"}]}``, for every answer of the
lookup and action routes: their own refusals, and the wrong method, a failure and a busy
database (503), which the app's handlers would answer in the ledger's shape.

``attr`` names the field or header at fault and is left out when none is (Gladly's REST errors
and its sample adaptor's form-level error do the same); ``code`` and ``detail`` are always set.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from returnhub.api.errors import failure_answer
from returnhub.api.plain import error_body


def gladly_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Our error list ``[{field, code, message}]`` in Gladly's shape."""
    return {
        "errors": [
            {"attr": e["field"], "code": e["code"], "detail": e["message"]}
            if e.get("field")
            else {"code": e["code"], "detail": e["message"]}
            for e in errors
        ]
    }


class GladlyRoute(APIRoute):
    """An action route whose wrong-method and failure answers are in Gladly's shape too (the
    app's handlers would give them the ledger's)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                status, errors, headers = failure_answer(exc, request.url.path)
                return JSONResponse(gladly_body(errors), status, headers=headers)

        return answer

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allow = ", ".join(sorted(self.methods))
            error = {"field": "", "code": "method_not_allowed", "message": f"use {allow}"}
            response = JSONResponse(gladly_body([error]), 405, headers={"Allow": allow})
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def gladly_error_doc(status: int, description: str) -> dict[int | str, Any]:
    """An OpenAPI response entry for an answer in Gladly's error shape."""
    return error_body(status, description, "GladlyErrorResponse")


GLADLY_FAILURES: dict[int | str, Any] = {
    **gladly_error_doc(401, "Missing or wrong credentials"),
    **gladly_error_doc(405, "Wrong method (`Allow` names the right one)"),
    **gladly_error_doc(413, "Body over RETURNHUB_WEBHOOK_MAX_BODY_BYTES"),
    **gladly_error_doc(503, "Database busy or unreachable; retry after `Retry-After` seconds"),
}
ACTION_RESPONSES: dict[int | str, Any] = {
    **GLADLY_FAILURES,
    **gladly_error_doc(400, "A field to correct (`attr` names it)"),
    **gladly_error_doc(404, "No such action"),
}
