"""The agent workspace at /agent: sign-in, CSRF, search across systems, linking, return actions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from returnhub.api.app import create_app
from returnhub.services import keys, lookup
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.tables import PulledReturn
from returnhub.web import passwords
from tests.conftest import Clock
from tests.factories import create_order

SHOPIFY_PROFILE = {
    "id": "gid://shopify/Customer/7",
    "displayName": "Jordan Lee",
    "email": "jordan.lee@example.com",
    "phone": "+14155550199",
}


def shopify_answers(server: HTTPServer, nodes: list[dict[str, Any]]) -> None:
    def handler(request: Request) -> Response:
        assert request.headers["X-Shopify-Access-Token"] == "shpat_test"
        edges = [{"node": n} for n in nodes]
        return Response(json.dumps({"data": {"customers": {"edges": edges}}}))

    server.expect_request("/admin/api/2025-07/graphql.json", method="POST").respond_with_handler(
        handler
    )


@pytest.fixture
def shopify() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def web(
    settings: Settings, db: Database, clock: Clock, shopify: HTTPServer
) -> Iterator[TestClient]:
    """An app with Shopify connected (a fake server) and no API key on the client."""
    connected = settings.model_copy(
        update={
            "shopify_access_token": SecretStr("shpat_test"),
            "shopify_base_url": shopify.url_for(""),
            "search_system_timeout_seconds": 0.5,
            "search_budget_seconds": 1.0,
            "auto_link_enabled": False,
        }
    )
    app = create_app(connected, Database(db.engine, connected), clock, worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, key: str = DEMO_API_KEY) -> str:
    """Signs in; returns the session's CSRF token."""
    form = client.get("/agent/login")
    response = client.post(
        "/agent/login",
        data={"csrf": csrf_of(form.text), "api_key": key},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    return csrf_of(client.get("/agent").text)


AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def test_pages_need_a_session(web: TestClient) -> None:
    for path in ("/agent", "/agent/customers/cus_x", "/agent/returns/ret_x"):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/agent/login"
    assert web.get("/agent/customers/cus_x/returns").status_code == 401
    login = web.get("/agent/login")
    assert login.status_code == 200
    assert '<label for="api_key">' in login.text


def test_sign_in_refuses_bad_keys_and_forged_forms(web: TestClient) -> None:
    form = web.get("/agent/login")
    token = csrf_of(form.text)
    wrong = web.post("/agent/login", data={"csrf": token, "api_key": "rh_nope"})
    assert wrong.status_code == 401
    assert "unknown or revoked" in wrong.text
    web.cookies.clear()
    forged = web.post("/agent/login", data={"csrf": token, "api_key": DEMO_API_KEY})
    assert forged.status_code == 403
    assert "rh_agent" not in forged.headers.get("set-cookie", "")


def test_keys_without_agent_scope_and_revoked_keys(web: TestClient, db: Database) -> None:
    with db.write() as session:
        _, warehouse = keys.create_key(session, ["warehouse"], "dock")
        agent_key, agent = keys.create_key(session, ["agent"], "Sam")
        agent_id = agent_key.public_id
    form = web.get("/agent/login")
    refused = web.post("/agent/login", data={"csrf": csrf_of(form.text), "api_key": warehouse})
    assert refused.status_code == 401
    assert "no agent scope" in refused.text
    sign_in(web, agent)
    assert "Signed in as Sam" in web.get("/agent").text
    with db.write() as session:
        keys.revoke_key(session, agent_id)
    assert web.get("/agent", follow_redirects=False).status_code == 303


def test_tampered_session_cookie_is_ignored(web: TestClient) -> None:
    sign_in(web)
    value = web.cookies["rh_agent"]
    web.cookies.clear()
    web.cookies.set("rh_agent", value[:-3] + "abc")
    assert web.get("/agent", follow_redirects=False).status_code == 303


def test_search_across_systems_link_and_unlink(web: TestClient, shopify: HTTPServer) -> None:
    csrf = sign_in(web)
    customer = web.post(
        "/api/v1/customers",
        json={"name": "Jordan Lee", "emails": ["jordan.lee@example.com"]},
        headers=AUTH,
    ).json()
    shopify_answers(shopify, [SHOPIFY_PROFILE])
    found = web.get("/agent", params={"q": "jordan.lee@example.com", "by": "email"})
    assert found.status_code == 200
    assert f'href="/agent/customers/{customer["id"]}"' in found.text
    assert "gid://shopify/Customer/7" in found.text
    page = web.get(
        f"/agent/customers/{customer['id']}",
        params={"q": "jordan.lee@example.com", "by": "email", "where": "all-unlinked"},
    )
    assert "Link shopify profile gid://shopify/Customer/7" in page.text
    assert "Not linked to any external system" in page.text
    forged = web.post(
        f"/agent/customers/{customer['id']}/links",
        data={"csrf": "nope", "system": "shopify", "external_id": "gid://shopify/Customer/7"},
    )
    assert forged.status_code == 403
    linked = web.post(
        f"/agent/customers/{customer['id']}/links",
        data={"csrf": csrf, "system": "shopify", "external_id": "gid://shopify/Customer/7"},
    )
    assert linked.status_code == 200
    assert "Linked shopify profile" in linked.text
    assert "shopify gid://shopify/Customer/7 — manual by demo" in linked.text
    links = web.get(f"/api/v1/customers/{customer['id']}/links", headers=AUTH).json()
    assert [(x["system"], x["how"]) for x in links["links"]] == [("shopify", "manual")]
    unlinked = web.post(f"/agent/customers/{customer['id']}/unlink", data={"csrf": csrf})
    assert "Unlinked from every system" in unlinked.text
    assert web.get(f"/api/v1/customers/{customer['id']}/links", headers=AUTH).json()["links"] == []


def test_a_failing_system_is_shown_beside_the_results(web: TestClient, shopify: HTTPServer) -> None:
    sign_in(web)
    web.post(
        "/api/v1/customers",
        json={"name": "Jordan Lee", "emails": ["jordan.lee@example.com"]},
        headers=AUTH,
    )
    shopify.expect_request("/admin/api/2025-07/graphql.json").respond_with_data("down", status=503)
    page = web.get("/agent", params={"q": "jordan.lee@example.com", "by": "email"})
    assert page.status_code == 200
    assert "Jordan Lee" in page.text
    assert "<strong>shopify</strong> did not answer" in page.text
    bad_phone = web.get("/agent", params={"q": "not a phone", "by": "phone"})
    assert bad_phone.status_code == 200
    assert 'class="errors"' in bad_phone.text


def test_return_link_exception_note_and_actions(web: TestClient, clock: Clock) -> None:
    csrf = sign_in(web)
    web.headers.update(AUTH)
    order = create_order(web, clock.now)
    customer_id = order["customer_id"]
    web.headers.pop("Authorization")
    page = web.get(f"/agent/customers/{customer_id}")
    assert page.status_code == 200
    assert order["name"] in page.text
    assert "Routing" in page.text and "Queue" in page.text
    link = web.post(f"/agent/orders/{order['id']}/return-link", data={"csrf": csrf})
    assert link.status_code == 200
    url = re.search(r'value="(http[^"]+/r/[^"]+)"', link.text)
    assert url, link.text
    token = url.group(1).rsplit("/r/", 1)[1]
    assert web.get(f"/r/{token}").status_code == 200
    assert web.post(f"/agent/orders/{order['id']}/return-link", data={}).status_code == 403

    exception = web.post(
        f"/agent/orders/{order['id']}/exception", data={"csrf": csrf, "reason": "VIP"}
    )
    assert f"Exception granted for order {order['name']}" in exception.text
    # The final-sale tee is now returnable thanks to the exception.
    portal = web.get(f"/r/{token}").text
    assert f'name="qty_{order["lines"][1]["id"]}"' in portal

    created = web.post(
        "/api/v1/returns",
        headers=AUTH,
        json={
            "order_id": order["id"],
            "items": [
                {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"}
            ],
        },
    ).json()
    listing = web.get(f"/agent/customers/{customer_id}/returns")
    assert created["number"] in listing.text
    assert 'hx-trigger="every 5s"' in listing.text
    detail = web.get(f"/agent/returns/{created['id']}")
    assert detail.status_code == 200
    assert "Rain Jacket" in detail.text and "129.00 USD" in detail.text
    assert "/actions/authorize" in detail.text and "/actions/close" not in detail.text

    note = web.post(
        f"/agent/returns/{created['id']}/notes", data={"csrf": csrf, "body": "called customer"}
    )
    assert "called customer" in note.text
    assert (
        web.post(f"/agent/returns/{created['id']}/notes", data={"body": "no token"}).status_code
        == 403
    )
    flagged = web.post(f"/agent/returns/{created['id']}/actions/flag", data={"csrf": csrf})
    assert "Done: flag" in flagged.text
    processed = web.post(f"/agent/returns/{created['id']}/actions/process", data={"csrf": csrf})
    assert "Done: process" in processed.text
    illegal = web.post(f"/agent/returns/{created['id']}/actions/authorize", data={"csrf": csrf})
    assert illegal.status_code == 409
    closed = web.post(f"/agent/returns/{created['id']}/actions/close", data={"csrf": csrf})
    assert "Done: close" in closed.text
    live = web.get(f"/agent/returns/{created['id']}/live")
    assert 'data-testid="state">closed' in live.text
    state = web.get(f"/api/v1/returns/{created['id']}", headers=AUTH).json()["state"]
    assert state == "closed"


def test_sign_out_needs_the_token_and_ends_the_session(web: TestClient) -> None:
    csrf = sign_in(web)
    assert web.post("/agent/logout", data={"csrf": "x"}).status_code == 403
    out = web.post("/agent/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert web.get("/agent", follow_redirects=False).status_code == 303


CONTROL = re.compile(r"<(input|select|textarea)\b([^>]*)>", re.IGNORECASE)


def unlabelled_controls(html: str) -> list[str]:
    """Form controls with no <label for=…>, no wrapping <label> and no aria-label."""
    missing = []
    for match in CONTROL.finditer(html):
        attrs = match.group(2)
        if re.search(r'type="(hidden|submit|button)"', attrs) or "aria-label=" in attrs:
            continue
        control_id = re.search(r'id="([^"]+)"', attrs)
        if control_id and f'<label for="{control_id.group(1)}"' in html:
            continue
        opened = html.rfind("<label", 0, match.start())
        if opened != -1 and html.rfind("</label>", 0, match.start()) < opened:
            continue
        missing.append(match.group(0))
    return missing


def test_every_control_has_a_label(web: TestClient, clock: Clock, shopify: HTTPServer) -> None:
    assert unlabelled_controls(web.get("/agent/login").text) == []
    csrf = sign_in(web)
    web.headers.update(AUTH)
    order = create_order(web, clock.now)
    created = web.post(
        "/api/v1/returns",
        json={
            "order_id": order["id"],
            "items": [
                {"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"}
            ],
        },
    ).json()
    web.headers.pop("Authorization")
    shopify_answers(shopify, [SHOPIFY_PROFILE])
    link = web.post(f"/agent/orders/{order['id']}/return-link", data={"csrf": csrf}).text
    token = link.split("/r/", 1)[1].split('"', 1)[0]
    pages = [
        web.get("/agent", params={"q": "jordan.lee@example.com"}).text,
        web.get(
            f"/agent/customers/{order['customer_id']}", params={"q": "jordan.lee@example.com"}
        ).text,
        web.get(f"/agent/returns/{created['id']}").text,
        link,
        web.get(f"/r/{token}").text,
        web.get(f"/r/{token}/returns/{created['id']}").text,
    ]
    for html in pages:
        assert unlabelled_controls(html) == []
        assert 'lang="en"' in html or "<html" not in html


def test_username_and_password_sign_in(
    settings: Settings, db: Database, clock: Clock, shopify: HTTPServer
) -> None:
    stored = passwords.hash_password("correct horse", iterations=1000)
    assert "correct horse" not in stored
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("wrong", stored)
    assert not passwords.verify_password("x", "garbage")
    configured = settings.model_copy(update={"agent_users": SecretStr(f"alice={stored}; ;bad")})
    assert passwords.parse_users(configured.agent_users.get_secret_value()) == {"alice": stored}
    app = create_app(configured, Database(db.engine, configured), clock, worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        form = client.get("/agent/login")
        assert '<label for="password">' in form.text
        csrf = csrf_of(form.text)
        wrong = client.post(
            "/agent/login", data={"csrf": csrf, "username": "alice", "password": "nope"}
        )
        assert wrong.status_code == 401
        assert "do not match" in wrong.text
        csrf = csrf_of(wrong.text)
        ok = client.post(
            "/agent/login",
            data={"csrf": csrf, "username": "alice", "password": "correct horse"},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert "Signed in as alice" in client.get("/agent").text
    # A changed password ends the session made with the old one.
    changed = configured.model_copy(
        update={"agent_users": SecretStr("alice=" + passwords.hash_password("new", 1000))}
    )
    app = create_app(changed, Database(db.engine, changed), clock, worker=False)
    with TestClient(app, raise_server_exceptions=False) as other:
        other.cookies.set("rh_agent", client.cookies["rh_agent"])
        assert other.get("/agent", follow_redirects=False).status_code == 303


def test_confirmations_escape_names_from_other_systems(web: TestClient, clock: Clock) -> None:
    sign_in(web)
    web.headers.update(AUTH)
    order = create_order(web, clock.now, name="#1'); alert('x")
    web.headers.pop("Authorization")
    html = web.get(f"/agent/customers/{order['customer_id']}").text
    # The question is data for static/app.js, never script: escaped as an attribute value.
    assert "alert('x" not in html
    assert 'data-confirm="Grant a policy exception for #1&#39;); alert(&#39;x?"' in html


def test_returns_pulled_from_linked_systems_are_listed(
    web: TestClient, db: Database, clock: Clock
) -> None:
    sign_in(web)
    web.headers.update(AUTH)
    order = create_order(web, clock.now)
    web.headers.pop("Authorization")
    with db.write() as session:
        customer = lookup.get_customer(session, order["customer_id"])
        session.add(
            PulledReturn(
                customer_id=customer.id,
                system="loop",
                external_id="31000042",
                state="in_transit",
                order_name="#9001",
                data={},
                source_updated_at=clock.now,
            )
        )
    fragment = web.get(f"/agent/customers/{order['customer_id']}/returns").text
    assert "From linked systems" in fragment
    assert "31000042" in fragment and "#9001" in fragment and "in transit" in fragment
    assert "31000042" in web.get(f"/agent/customers/{order['customer_id']}").text


def test_notices_in_links_must_be_ours(web: TestClient, clock: Clock) -> None:
    sign_in(web)
    web.headers.update(AUTH)
    order = create_order(web, clock.now)
    web.headers.pop("Authorization")
    page = web.get(
        f"/agent/customers/{order['customer_id']}",
        params={"notice": "Your session expired: call +1 555 0100", "sig": "forged"},
    )
    assert "call +1 555 0100" not in page.text
