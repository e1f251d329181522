"""The OpenAPI document says what the API does: who may call each operation (and with which
scopes), every reference resolves, every enforced limit is stated, and a 405 names every method
its path serves. Each claim is checked against the running app, on both engines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from returnhub.services.keys import Scope, create_key
from returnhub.store.db import Database

METHODS = ("get", "post", "put", "patch", "delete")
SCOPES_NOTE = re.compile(r"Scopes: ([a-z, ]+) \(any one\)")


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _concrete(document: dict[str, Any], path: str, operation: dict[str, Any]) -> str:
    """``path`` with each parameter filled: an enum's first value, else a made-up id."""
    values = {}
    for parameter in operation.get("parameters", []):
        schema = parameter["schema"]
        if "$ref" in schema:
            schema = _resolve(document, schema["$ref"])
        if parameter["in"] == "path" and "enum" in schema:
            values[parameter["name"]] = schema["enum"][0]
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "zz_unknown")), path)


def _templates_matching(document: dict[str, Any], url: str) -> set[str]:
    """The methods of every documented path template that ``url`` matches."""
    methods: set[str] = set()
    for path, item in document["paths"].items():
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)), url):
            methods |= {m.upper() for m in item if m in METHODS}
    return methods


def test_bearer_scheme_is_declared_and_required_exactly_where_a_key_is(
    client: TestClient,
) -> None:
    document = _document(client)
    schemes = document["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    (scheme,) = schemes
    secured, public = [], []
    for path, method, operation in _operations(document):
        # Without a key: a bearer-protected operation answers 401 with its challenge; Gladly's
        # and the webhooks' signed routes answer 401 without one, health answers.
        answer = client.request(
            method, _concrete(document, path, operation), headers={"Authorization": ""}
        )
        needs_key = answer.headers.get("www-authenticate") == "Bearer"
        declared = operation.get("security")
        if needs_key:
            secured.append((method, path))
            assert answer.status_code == 401, (method, path)
            assert declared == [{scheme: []}], (method, path, declared)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        else:
            public.append((method, path))
            assert declared is None, (method, path, declared)
    assert ("get", "/healthz") in public
    assert ("post", "/webhooks/{source}") in public
    assert ("post", "/integrations/gladly/lookup") in public
    assert len(secured) >= 40


def test_each_secured_operation_names_the_scopes_it_admits(
    client: TestClient, db: Database
) -> None:
    with db.write() as session:
        keys = {scope: create_key(session, [scope.value])[1] for scope in Scope}
    document = _document(client)
    checked = 0
    for path, method, operation in _operations(document):
        if "security" not in operation:
            continue
        found = SCOPES_NOTE.search(operation.get("description", ""))
        assert found, (method, path, operation.get("description"))
        named = {Scope(s.strip()) for s in found.group(1).split(",")}
        assert Scope.ADMIN in named, (method, path)
        url = _concrete(document, path, operation)
        for scope, key in keys.items():
            answer = client.request(method, url, headers={"Authorization": f"Bearer {key}"})
            # A 403 for the key's scope says "forbidden"; a return link's own 403 does not.
            refused = answer.status_code in (401, 403) and answer.json()["errors"][0]["code"] in (
                "unauthorized",
                "forbidden",
            )
            assert refused == (scope not in named), (method, path, scope, answer.text)
        checked += 1
    assert checked >= 40


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (at {part!r})"
        node = node[part]
    return node


def test_every_reference_resolves(client: TestClient) -> None:
    document = _document(client)
    refs = set(_refs(document))
    assert "#/components/schemas/ErrorResponse" in refs
    for ref in sorted(refs):
        _resolve(document, ref)


def test_the_receipt_body_states_its_line_limits(client: TestClient) -> None:
    operation = _document(client)["paths"]["/api/v1/warehouse/receipts"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    lines = schema["properties"]["lines"]
    assert (lines["minItems"], lines["maxItems"]) == (1, 10_000)
    assert lines["items"]["properties"]["quantity"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 1_000_000,
        "title": "Quantity",
    }
    assert "200" in operation["responses"]


def test_gladly_lookup_states_what_it_requires(client: TestClient) -> None:
    operation = _document(client)["paths"]["/integrations/gladly/lookup"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert sorted(schema["required"]) == ["lookupLevel", "query", "uniqueMatchRequired"]
    assert schema["then"]["properties"]["uniqueMatchRequired"] == {"const": True}
    assert schema["then"]["properties"]["query"]["required"] == ["externalCustomerId"]
    for status in ("400", "401", "413", "503"):
        answer = operation["responses"][status]["content"]["application/json"]["schema"]
        assert answer == {"$ref": "#/components/schemas/GladlyErrorResponse"}


def test_blank_required_text_is_stated_as_not_blank(client: TestClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    for model, field in (
        ("OrderLineIn", "sku"),
        ("OrderLineIn", "title"),
        ("ExchangeItemIn", "sku"),
    ):
        stated = schemas[model]["properties"][field]
        assert (stated["minLength"], stated["maxLength"]) == (1, 200), (model, field)
        assert re.search(stated["pattern"], " \t\x1c\x85") is None
        assert re.search(stated["pattern"], " a ") is not None


def test_a_405_lists_every_method_its_path_serves(client: TestClient) -> None:
    document = _document(client)
    checked = 0
    for path, item in document["paths"].items():
        url = _concrete(document, path, next(iter(item.values())))
        served = _templates_matching(document, url)
        for method in sorted({m.upper() for m in METHODS} - served):
            answer = client.request(method, url)
            assert answer.status_code == 405, (method, url, answer.text)
            allow = {m.strip() for m in answer.headers["allow"].split(",")}
            assert allow - {"HEAD"} == served, (method, url, allow)
            assert answer.json()["errors"][0]["code"] == "method_not_allowed"
            checked += 1
    assert checked >= 100


def test_a_405_on_customers_names_get_and_post(client: TestClient) -> None:
    answer = client.put("/api/v1/customers")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.json()["errors"][0]["message"] == "PUT is not served here; use GET, POST"


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_405_on_a_plain_route_names_its_method(client: TestClient, method: str) -> None:
    answer = client.request(method, "/webhooks/loop")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
