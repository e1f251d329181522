"""The OpenAPI document: what FastAPI derives from the routes, plus what it cannot see.

FastAPI states the bearer scheme on each operation whose dependencies use ``deps.BEARER``, but
not which scopes the key needs, nor the error answers our handlers give (``errors.py``). Those
are derived here from the routes themselves, so a new route is described like the others
without repeating any of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import BaseRoute

from returnhub.api.plain import error_body
from returnhub.api.schemas import ErrorResponse, GladlyErrorResponse

# The REST API answers failures with the ledger's error list; Gladly's routes have their own
# shape and declare their answers themselves.
REST_PREFIX = "/api/v1/"

ERROR_TEXT = {
    400: "The body is not valid JSON",
    401: "Missing, unknown or revoked API key",
    403: "The key lacks the scope this operation needs",
    404: "A resource the request names does not exist",
    409: "Conflicts with the current state (each error says which)",
    422: "Invalid values; each error names the field and what to fix",
    503: "The database is busy or unreachable; retry after Retry-After seconds",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: the scheme to authenticate with",
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "string"},
        }
    },
}
FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def scope_note(route: APIRoute) -> str | None:
    """The scopes an operation needs, from the first dependency that states them."""
    for dependant in _walk(route.dependant):
        note = getattr(dependant.call, "scope_note", None)
        if isinstance(note, str):
            return note
    return None


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _error_statuses(path: str, method: str, operation: dict[str, Any], secured: bool) -> set[int]:
    statuses = {503} if path.startswith(REST_PREFIX) else set()
    if secured:
        statuses |= {401, 403}
    if not path.startswith(REST_PREFIX):
        return statuses
    has_input = bool(operation.get("parameters")) or "requestBody" in operation
    if has_input:
        statuses |= {404, 422}
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        statuses.add(400)
    if method != "get":
        statuses.add(409)
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = error_body(status, ERROR_TEXT[status])[str(status)]
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _operations(routes: list[BaseRoute]) -> Iterator[tuple[str, str, APIRoute]]:
    """(path, method, route) of each documented operation, paths with their routers' prefixes."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path_format:
            for method in sorted((context.methods or set()) - {"HEAD"}):
                yield context.path_format, method.lower(), route


def describe(schema: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    """``schema`` (FastAPI's document for ``routes``) with scopes and error answers added."""
    for path, method, route in _operations(routes):
        note = scope_note(route)
        operation = schema["paths"][path][method]
        if note is not None:
            needs = f"Needs an API key. {note}"
            described = operation.get("description", "")
            operation["description"] = f"{described}\n\n{needs}" if described else needs
        responses = operation.setdefault("responses", {})
        secured = note is not None
        for status in sorted(_error_statuses(path, method, operation, secured)):
            responses.setdefault(str(status), _error_response(status))
        _replace_fastapi_validation(responses)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for model in (ErrorResponse, GladlyErrorResponse):
        # Referenced by hand (plain.error_body), so FastAPI may not have collected them.
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in definition.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components.setdefault(model.__name__, definition)
    return schema


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its definitions written in place, for a request body
    declared by hand (``openapi_extra``): pydantic's ``#/$defs/...`` references point into a
    ``$defs`` that the OpenAPI document does not have."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _replace_fastapi_validation(responses: dict[str, Any]) -> None:
    # errors.py answers every request validation failure with our list, never FastAPI's shape.
    answer = responses.get("422", {}).get("content", {}).get("application/json", {})
    if answer.get("schema", {}).get("$ref") == FASTAPI_VALIDATION:
        responses["422"] = _error_response(422)


def install(app: FastAPI) -> None:
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(build(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
