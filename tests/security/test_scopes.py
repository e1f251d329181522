"""What each credential may do: every operation of the app against every API key scope.

The table below has one row per operation in the app's route table (FastAPI's routes and the
plain-ASGI ones). A route added without a row fails ``test_every_route_has_a_row``, so nobody
can add an operation without deciding who may call it. Operations guarded by something other
than an API key (a session, a return link, Gladly's or a webhook sender's signature) are
checked to refuse every API key, admin's included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr

from returnhub.api.app import create_app
from returnhub.api.plain import PlainRoute
from returnhub.services.keys import Scope, create_key
from returnhub.settings import Settings
from returnhub.store.db import Database
from tests.conftest import AUTH, Clock
from tests.factories import create_order, create_return

A, H, W = Scope.AGENT, Scope.HELPDESK, Scope.WAREHOUSE


class Guard(Enum):
    """Operations no API key opens."""

    PUBLIC = "anyone"
    SESSION = "an agent's browser session (with its CSRF token)"
    SIGN_IN = "the sign-in form's CSRF cookie"
    RETURN_LINK = "the customer's return link"
    GLADLY = "Gladly's request signature"
    WEBHOOK = "the sender's webhook signature"


@dataclass(frozen=True)
class Probe:
    """Who may call one operation: ``scopes`` (besides admin) or a ``guard``; ``params`` fill
    or override the path's placeholders."""

    scopes: frozenset[Scope] | None = None
    guard: Guard | None = None
    params: dict[str, str] = field(default_factory=dict)
    path: str = ""  # for a mount: the path of one thing under it


def keys(*scopes: Scope) -> Probe:
    return Probe(scopes=frozenset(scopes))


READ = keys(A, H)
WRITE = keys(A)
ADMIN = keys()
PUBLIC = Probe(guard=Guard.PUBLIC)
# The portal with a link that is not one: no API key stands in for the customer's link.
NO_LINK = Probe(guard=Guard.RETURN_LINK, params={"token": "not-a-return-link"})

# The README's scope table, row by row: helpdesk reads and adds notes (plus what the help desk
# integration does: return links, the self-service guide, routing); only agent changes records.
TABLE: dict[tuple[str, str], tuple[Probe, ...]] = {
    ("GET", "/openapi.json"): (PUBLIC,),
    ("GET", "/docs"): (PUBLIC,),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC,),
    ("GET", "/redoc"): (PUBLIC,),
    ("GET", "/static"): (Probe(guard=Guard.PUBLIC, path="/static/htmx.min.js"),),
    ("GET", "/healthz"): (PUBLIC,),
    ("GET", "/readyz"): (PUBLIC,),
    ("GET", "/metrics"): (PUBLIC,),
    ("POST", "/integrations/gladly/lookup"): (Probe(guard=Guard.GLADLY),),
    ("GET", "/integrations/gladly/actions/{action}/form"): (Probe(guard=Guard.GLADLY),),
    ("POST", "/integrations/gladly/actions/{action}/submit"): (Probe(guard=Guard.GLADLY),),
    ("POST", "/webhooks/{source}"): tuple(
        Probe(guard=Guard.WEBHOOK, params={"source": s})
        for s in ("loop", "shopify", "returnlogic", "generic")
    ),
    ("GET", "/r/{token}"): (NO_LINK,),
    ("POST", "/r/{token}"): (NO_LINK,),
    ("GET", "/r/{token}/returns/{return_id}"): (NO_LINK,),
    ("GET", "/agent/login"): (PUBLIC,),
    ("POST", "/agent/login"): (Probe(guard=Guard.SIGN_IN),),
    ("POST", "/agent/logout"): (Probe(guard=Guard.SESSION),),
    ("GET", "/agent"): (Probe(guard=Guard.SESSION),),
    ("GET", "/agent/customers/{customer_id}"): (Probe(guard=Guard.SESSION),),
    ("GET", "/agent/orders/{order_id}"): (Probe(guard=Guard.SESSION),),
    ("GET", "/agent/customers/{customer_id}/returns"): (Probe(guard=Guard.SESSION),),
    ("POST", "/agent/customers/{customer_id}/links"): (Probe(guard=Guard.SESSION),),
    ("POST", "/agent/customers/{customer_id}/unlink"): (Probe(guard=Guard.SESSION),),
    ("POST", "/agent/orders/{order_id}/return-link"): (Probe(guard=Guard.SESSION),),
    ("POST", "/agent/orders/{order_id}/exception"): (Probe(guard=Guard.SESSION),),
    ("GET", "/agent/returns/{return_id}"): (Probe(guard=Guard.SESSION),),
    ("GET", "/agent/returns/{return_id}/live"): (Probe(guard=Guard.SESSION),),
    ("POST", "/agent/returns/{return_id}/notes"): (Probe(guard=Guard.SESSION),),
    ("POST", "/agent/returns/{return_id}/actions/{action}"): (
        Probe(guard=Guard.SESSION, params={"action": "authorize"}),
    ),
    ("POST", "/api/v1/customers"): (WRITE,),
    ("GET", "/api/v1/customers"): (READ,),
    ("GET", "/api/v1/customers/{customer_id}"): (READ,),
    ("PATCH", "/api/v1/customers/{customer_id}"): (WRITE,),
    ("GET", "/api/v1/customers/{customer_id}/orders"): (READ,),
    ("GET", "/api/v1/customers/{customer_id}/returns"): (READ,),
    ("POST", "/api/v1/orders"): (WRITE,),
    ("GET", "/api/v1/orders/{order_id}"): (READ,),
    ("GET", "/api/v1/orders/{order_id}/eligibility"): (READ,),
    ("POST", "/api/v1/orders/{order_id}/return-link"): (keys(A, H),),
    ("GET", "/api/v1/return-links/{token}"): (READ,),
    ("POST", "/api/v1/returns"): (WRITE,),
    ("GET", "/api/v1/returns"): (READ,),
    ("GET", "/api/v1/returns/{return_id}"): (READ,),
    ("POST", "/api/v1/returns/{return_id}/notes"): (keys(A, H),),
    ("POST", "/api/v1/returns/{return_id}/refund"): (WRITE,),
    ("POST", "/api/v1/returns/{return_id}/{action}"): (
        Probe(scopes=frozenset({A}), params={"action": "authorize"}),
        Probe(scopes=frozenset({A, W}), params={"action": "receive"}),
    ),
    ("POST", "/api/v1/allowlist"): (WRITE,),
    ("GET", "/api/v1/allowlist"): (READ,),
    ("DELETE", "/api/v1/allowlist/{entry_id}"): (WRITE,),
    ("GET", "/api/v1/outbox"): (ADMIN,),
    ("GET", "/api/v1/outbox/{job_id}"): (ADMIN,),
    ("POST", "/api/v1/outbox/replay"): (ADMIN,),
    ("POST", "/api/v1/outbox/{job_id}/replay"): (ADMIN,),
    ("GET", "/api/v1/inbox"): (ADMIN,),
    ("POST", "/api/v1/webhook-subscriptions"): (ADMIN,),
    ("GET", "/api/v1/webhook-subscriptions"): (ADMIN,),
    ("DELETE", "/api/v1/webhook-subscriptions/{subscription_id}"): (ADMIN,),
    ("GET", "/api/v1/connectors/health"): (ADMIN,),
    ("POST", "/api/v1/routing/evaluate"): (READ,),
    ("GET", "/api/v1/search"): (READ,),
    ("GET", "/api/v1/customers/{customer_id}/links"): (READ,),
    # Linking and unlinking change who a customer is in other systems; unlinking deletes
    # what was pulled and turns auto-linking off for that customer for good.
    ("POST", "/api/v1/customers/{customer_id}/links"): (WRITE,),
    ("DELETE", "/api/v1/customers/{customer_id}/links"): (WRITE,),
    ("POST", "/api/v1/customers/{customer_id}/links/refresh"): (WRITE,),
    ("GET", "/api/v1/customers/{customer_id}/linked-returns"): (READ,),
    ("GET", "/api/v1/connectors"): (READ,),
    ("GET", "/api/v1/warehouse/ras"): (keys(A, H, W),),
    ("GET", "/api/v1/warehouse/ras/{ra_id}"): (keys(A, H, W),),
    ("POST", "/api/v1/warehouse/ras/{ra_id}/transmit"): (keys(A, W),),
    ("GET", "/api/v1/warehouse/receipts"): (keys(A, H, W),),
    ("GET", "/api/v1/warehouse/receipts/{receipt_id}"): (keys(A, H, W),),
    ("POST", "/api/v1/warehouse/receipts"): (keys(W),),
    ("POST", "/api/v1/conversations"): (keys(A, H),),
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): (keys(A, H),),
    ("GET", "/api/v1/conversations/{conversation_id}"): (READ,),
}

CREDENTIALS = (None, Scope.ADMIN, Scope.AGENT, Scope.HELPDESK, Scope.WAREHOUSE)


def operations(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers."""
    found = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert path is not None
        for method in route.methods or {"GET"}:  # a mount (static files) has no methods
            if method != "HEAD":
                found.add((method, path))
    plain: tuple[PlainRoute, ...] = app.state.plain_routes
    found.update((r.method, r.template) for r in plain)
    return found


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[TestClient]:
    # Every signed entry point configured, so that each refuses for want of its signature,
    # not because it is switched off.
    guarded = settings.model_copy(
        update={
            "gladly_signing_key": SecretStr("gladly-key-for-the-scope-table"),
            "loop_webhook_secret": SecretStr("loop-secret-for-the-scope-table"),
            "shopify_webhook_secret": SecretStr("shopify-secret-for-the-scope-table"),
            "returnlogic_webhook_secret": SecretStr("rl-secret-for-the-scope-table"),
            "generic_webhook_secret": SecretStr("whsec_c2NvcGUtdGFibGUtc2VjcmV0LWtleQ=="),
        }
    )
    app = create_app(guarded, db, clock, worker=False)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def _key(db: Database, scope: Scope) -> dict[str, str]:
    with db.write() as session:
        _, raw = create_key(session, [scope.value], name=f"{scope.value} key")
    return {"Authorization": f"Bearer {raw}"}


def test_every_route_has_a_row(hub: TestClient) -> None:
    app = hub.app
    assert isinstance(app, FastAPI)
    found = operations(app)
    assert found - TABLE.keys() == set(), "routes without a row in the scope table"
    assert TABLE.keys() - found == set(), "rows for routes the app no longer has"


def _path(template: str, values: dict[str, str]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a placeholder of {template}"
    return path


def _refused_by_scope(response: Any) -> bool:
    if response.status_code != 403:
        return False
    try:
        message = response.json()["errors"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return False
    return "this endpoint needs" in message


def test_every_operation_against_every_scope(hub: TestClient, db: Database, clock: Clock) -> None:
    # Given real records for the path's ids (so an allowed call reaches the operation itself)
    setup = TestClient(hub.app, headers=AUTH)
    order = create_order(setup, clock.now)
    ret = create_return(setup, order)
    link = setup.post(f"/api/v1/orders/{order['id']}/return-link", json={}).json()
    conversation = setup.post(
        "/api/v1/conversations", json={"channel": "chat", "email": "nobody@example.com"}
    ).json()
    values = {
        "customer_id": order["customer_id"],
        "order_id": order["id"],
        "return_id": ret["id"],
        "token": link["url"].rsplit("/", 1)[-1],
        "conversation_id": conversation["id"],
        "entry_id": "alw_unknown",
        "job_id": "job_unknown",
        "subscription_id": "whs_unknown",
        "ra_id": "ra_unknown",
        "receipt_id": "rcp_unknown",
        "action": "note",
    }
    headers = {scope: _key(db, scope) for scope in CREDENTIALS if scope is not None}

    wrong: list[str] = []
    for (method, template), probes in sorted(TABLE.items()):
        for probe in probes:
            path = probe.path or _path(template, {**values, **probe.params})
            for credential in CREDENTIALS:
                sent = headers.get(credential, {}) if credential is not None else {}
                response = hub.request(
                    method, path, headers=sent, json={} if method in ("POST", "PATCH") else None
                )
                problem = _judge(probe, credential, response)
                if problem:
                    who = credential.value if credential else "no key"
                    wrong.append(f"{method} {path} with {who}: {problem}")
    assert wrong == []


def _judge(probe: Probe, credential: Scope | None, response: Any) -> str:
    """What is wrong with ``response`` for this caller, or "" when it is as the table says."""
    status = response.status_code
    if probe.guard is Guard.PUBLIC:
        return f"answered {status}, but anyone may call it" if status in (401, 403) else ""
    if probe.guard is not None:
        # No API key opens it: refused, or sent to the sign-in page.
        to_sign_in = status == 303 and response.headers.get("location") == "/agent/login"
        if status in (401, 403, 404) or to_sign_in:
            return ""
        return f"answered {status}, but only {probe.guard.value} opens it"
    assert probe.scopes is not None
    if credential is None:
        return "" if status == 401 else f"answered {status} without a key (expected 401)"
    if credential is Scope.ADMIN or credential in probe.scopes:
        if status == 401 or _refused_by_scope(response):
            return f"refused ({status}: {response.text[:120]}), but the scope may call it"
        return ""
    if _refused_by_scope(response):
        return ""
    return f"answered {status}, but the scope may not call it (expected 403)"
