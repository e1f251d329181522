"""Every failure becomes JSON ``{"errors": [{field, code, message}]}``; never a traceback."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from returnhub.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from returnhub.services.return_links import InvalidReturnLink
from returnhub.store.write_health import is_storage_failure

log = structlog.get_logger(__name__)

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (InvalidReturnLink, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
]


def _errors(
    status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"errors": errors}, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts)


def _validation_message(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        return "unknown field; remove it (check the spelling against /docs)"
    if error.get("type") == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def _error(code: str, message: str) -> list[dict[str, Any]]:
    return [{"field": "", "code": code, "message": message}]


HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


def failure_answer(
    exc: Exception, path: str
) -> tuple[int, list[dict[str, Any]], dict[str, str] | None]:
    """Status, errors and headers for an exception nothing else handled (logged here), for the
    FastAPI routes and the plain-ASGI ones alike."""
    if isinstance(exc, StarletteHTTPException):
        # A deliberate refusal raised below a route (a streamed body over the limit).
        if isinstance(exc.detail, list):
            return exc.status_code, exc.detail, dict(exc.headers or {}) or None
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return exc.status_code, _error(code, str(exc.detail)), dict(exc.headers or {}) or None
    if isinstance(exc, IntegrityError):
        # A concurrent request won a uniqueness race that our own checks could not see.
        log.info("integrity_conflict", error=str(exc.orig)[:200])
        message = (
            "the change conflicts with data written at the same moment; "
            "fetch the current state and retry"
        )
        return 409, _error("conflict", message), None
    if isinstance(exc, DataError):
        # PostgreSQL refuses values SQLite stores, such as text holding NUL (0x00).
        reason = str(exc.orig).splitlines()[0][:200]
        return 422, _error("unstorable_value", f"a value cannot be stored: {reason}"), None
    # A read-only or full volume is as temporary as a busy database: the caller retries.
    if isinstance(exc, DBAPIError) and (
        isinstance(exc, OperationalError) or is_storage_failure(exc)
    ):
        log.error("database_unavailable", error=str(exc.orig)[:200])
        message = "the database is busy or unreachable; retry shortly"
        return 503, _error("database_unavailable", message), {"Retry-After": "1"}
    log.exception("unhandled_error", path=path, exc_info=exc)
    message = "something went wrong on our side; it has been logged"
    return 500, _error("internal_error", message), None


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path`` (the ``Allow`` of a 405, RFC 9110 §10.2.1)."""
    methods: set[str] = set()
    for context in iter_route_contexts(app.routes):
        pattern = context.path_format and compile_path(context.path_format)[0]
        if context.methods and pattern and pattern.match(path):
            methods |= context.methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in raw):
            detail = next(e for e in raw if e.get("type") == "json_invalid")
            ctx = detail.get("ctx") or {}
            return _errors(
                400,
                [
                    {
                        "field": "",
                        "code": "malformed_json",
                        "message": f"the body is not valid JSON ({ctx.get('error', 'parse error')}"
                        f" at position {detail.get('loc', ('', '?'))[-1]})",
                    }
                ],
            )
        return _errors(
            422,
            [
                {
                    "field": _field(tuple(e["loc"])),
                    "code": e["type"],
                    "message": _validation_message(e),
                }
                for e in raw
            ],
        )

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
        return _errors(status, [e.as_dict() for e in exc.errors])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if isinstance(exc.detail, list):
            return _errors(exc.status_code, exc.detail, headers)
        detail = str(exc.detail)
        if exc.status_code == 405:
            # The router names only the first route matching the path; a path served by
            # several routes (GET and POST /api/v1/customers) must list them all.
            allowed = allowed_methods(app, request.url.path)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not served here; use {', '.join(allowed)}"
        return _errors(
            exc.status_code,
            _error(HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}"), detail),
            headers,
        )

    # Named classes are answered by the exception middleware; a handler for Exception only by
    # Starlette's outermost one, which re-raises after answering (a 500 in the server's log).
    @app.exception_handler(DataError)
    @app.exception_handler(IntegrityError)
    @app.exception_handler(OperationalError)
    @app.exception_handler(Exception)
    async def _failure(request: Request, exc: Exception) -> JSONResponse:
        status, errors, headers = failure_answer(exc, request.url.path)
        return _errors(status, errors, headers)
