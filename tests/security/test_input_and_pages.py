"""Security: what strangers send and what pages send back (issue 22, findings 1, 5, 8, 9, 17
and the kept CSRF, escaping and literal LIKE matching). Each test failed on the code before
the fix. The ``client``, ``db`` and ``settings`` fixtures run every test on SQLite and on
PostgreSQL, where a NUL byte in a text value used to answer 500."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update
from starlette.types import Message

from returnhub.api.app import create_app
from returnhub.delivery.worker import Worker
from returnhub.services import keys
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.tables import InboxEvent, OutboxJob, Return
from tests.conftest import AUTH, Clock
from tests.factories import create_customer, create_order, create_return

LOOP_SECRET = "loop-test-secret-0123456789abcdef"
LOOP_FIXTURES = Path(__file__).parent.parent / "fixtures" / "loop"
TEMPLATES = Path(__file__).parents[2] / "src" / "returnhub" / "web" / "templates"
SCRIPT_URL = "javascript:alert(document.cookie)"


# ---- helpers ------------------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient) -> str:
    """Signs the client in as an agent; the session's CSRF token."""
    form = client.get("/agent/login")
    response = client.post(
        "/agent/login",
        data={"csrf": csrf_of(form.text), "api_key": DEMO_API_KEY},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/agent").text)


def portal_link(client: TestClient, order_id: str) -> str:
    response = client.post(f"/api/v1/orders/{order_id}/return-link", json={"gift": False})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def signed_loop(client: TestClient, body: bytes) -> Any:
    digest = hmac.new(LOOP_SECRET.encode(), body, hashlib.sha256).digest()
    return client.post(
        "/webhooks/loop",
        content=body,
        headers={
            "X-Loop-Signature": base64.b64encode(digest).decode(),
            "Content-Type": "application/json",
        },
    )


def loop_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((LOOP_FIXTURES / "return_created.json").read_text())
    payload.update(changes)
    return payload


def errors_of(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) == {"errors"}, body
    errors: list[dict[str, Any]] = body["errors"]
    assert errors and all({"field", "code", "message"} <= set(e) for e in errors), errors
    return errors


def asgi_post(
    app: FastAPI, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, bytes, int]:
    """POST straight to the ASGI app: status, body, and how many body chunks it read."""
    read = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {
                "type": "http.request",
                "body": chunks[read - 1],
                "more_body": read < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


@pytest.fixture
def hub(settings: Settings, db: Database, clock: Clock) -> Iterator[tuple[TestClient, Worker]]:
    configured = settings.model_copy(update={"loop_webhook_secret": SecretStr(LOOP_SECRET)})
    app = create_app(configured, db, clock, worker=False)
    worker = Worker(db, configured, clock=clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client, worker
    worker.close()


def production(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={"mode": "production", "secret_key": SecretStr(secrets.token_urlsafe(48)), **changes}
    )


def admin_key(db: Database) -> str:
    with db.write() as session:
        _, raw = keys.create_key(session, ["admin"], "security test")
    return raw


# ---- 1. stored XSS through javascript: URLs ----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        SCRIPT_URL,
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>",
        "//evil.example/x",
        "/agent",
    ],
)
def test_api_refuses_a_status_page_url_that_is_not_https(
    client: TestClient, clock: Clock, url: str
) -> None:
    order = create_order(client, clock.now)
    body = {
        "order_id": order["id"],
        "items": [{"order_line_id": order["lines"][0]["id"], "quantity": 1, "outcome": "refund"}],
        "status_page_url": url,
    }
    response = client.post("/api/v1/returns", json=body)
    assert response.status_code == 422, response.text
    assert [(e["field"], e["code"]) for e in errors_of(response)] == [
        ("status_page_url", "unsafe_url")
    ]
    body["status_page_url"] = "https://returns.example.com/status/1"
    assert client.post("/api/v1/returns", json=body).status_code == 201


def test_production_refuses_http_status_page_urls(
    settings: Settings, db: Database, clock: Clock
) -> None:
    app = create_app(production(settings), db, clock, worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {admin_key(db)}"
        order = create_order(client, clock.now)
        line = order["lines"][0]["id"]
        response = client.post(
            "/api/v1/returns",
            json={
                "order_id": order["id"],
                "items": [{"order_line_id": line, "quantity": 1, "outcome": "refund"}],
                "status_page_url": "http://returns.example.com/status/1",
            },
        )
    assert response.status_code == 422, response.text
    assert "https" in errors_of(response)[0]["message"]


def test_a_webhook_script_url_is_dropped_and_the_return_still_applies(
    hub: tuple[TestClient, Worker], db: Database
) -> None:
    client, worker = hub
    response = signed_loop(client, json.dumps(loop_payload(status_page_url=SCRIPT_URL)).encode())
    assert response.status_code == 202, response.text
    assert worker.drain() >= 1
    with db.read() as session:
        ret = session.scalars(select(Return).where(Return.source_system == "loop")).one()
        event = session.scalars(select(InboxEvent)).one()
        assert (ret.state, ret.status_page_url) == ("authorized", "")
        assert (event.status, event.detail) == (
            "applied",
            "created; status_page_url dropped: it must be an absolute https or http URL with a "
            "host name",
        )


def test_pages_never_link_a_stored_script_url(
    client: TestClient, db: Database, clock: Clock
) -> None:
    """Rows written before the check (or by any future path) are not linked either."""
    order = create_order(client, clock.now)
    ret = create_return(client, order)
    with db.write() as session:
        session.execute(
            update(Return).where(Return.public_id == ret["id"]).values(status_page_url=SCRIPT_URL)
        )
    token = portal_link(client, order["id"])
    portal = client.get(f"/r/{token}/returns/{ret['id']}")
    client.headers.pop("Authorization")
    sign_in(client)
    agent = client.get(f"/agent/returns/{ret['id']}")
    for page in (portal, agent):
        assert page.status_code == 200
        assert "javascript:" not in page.text
        assert "status page" not in page.text.lower()


def test_no_template_carries_inline_script_or_handlers() -> None:
    for template in TEMPLATES.glob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), template.name
        assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), template.name
        assert "style=" not in html, template.name  # the policy allows only app.css


def test_every_page_forbids_inline_script_and_framing_and_caching(
    client: TestClient, clock: Clock
) -> None:
    order = create_order(client, clock.now)
    ret = create_return(client, order)
    token = portal_link(client, order["id"])
    portal_pages = [f"/r/{token}", f"/r/{token}/returns/{ret['id']}", "/r/not-a-token"]
    customer = order["customer_id"]
    client.headers.pop("Authorization")
    agent_pages = [
        "/agent/login",
        "/agent",
        f"/agent/customers/{customer}",
        f"/agent/returns/{ret['id']}",
    ]
    sign_in(client)
    for path in portal_pages + agent_pages:
        response = client.get(path)
        assert response.headers["content-type"].startswith("text/html"), path
        policy = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["frame-ancestors"] == "'none'", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
    assert "no-store" not in client.get("/static/app.js").headers.get("cache-control", "")


# ---- 5. body size limits, checked before reading; the key before the body ----------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers",
        "/agent/login",
        "/r/anything",
        "/integrations/gladly/actions/note/submit",
        "/webhooks/loop",
    ],
)
def test_an_oversized_declared_body_is_refused_before_it_is_read(
    client: TestClient, path: str
) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"62914560")]
    status, body, read = asgi_post(app, path, headers, [b"{}"])
    assert (status, read) == (413, 0), body
    assert json.loads(body)["errors"][0]["code"] == "body_too_large"


@pytest.mark.parametrize("path", ["/agent/login", "/integrations/gladly/actions/note/submit"])
def test_a_streamed_body_is_counted_as_it_arrives(client: TestClient, path: str) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    chunk = b"a" * 65536
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    status, body, read = asgi_post(app, path, headers, [chunk] * 100)  # 6.5 MB
    assert status == 413, body
    assert read == 1024 * 1024 // 65536 + 1  # stopped at the first chunk over 1 MB
    assert json.loads(body)["errors"][0]["code"] == "body_too_large"


def test_the_portal_reads_no_body_for_a_bad_link(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    status, body, read = asgi_post(app, "/r/not-a-token", headers, [b"a" * 65536] * 10)
    assert (status, read) == (403, 0), body


def test_the_limit_is_a_setting(settings: Settings, db: Database, clock: Clock) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 2048}), db, clock, worker=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        response = client.post("/api/v1/customers", json={"name": "x" * 3000})
    assert response.status_code == 413
    assert "2048 bytes" in errors_of(response)[0]["message"]


def test_edi_receipts_keep_their_own_five_megabytes(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    path = "/api/v1/warehouse/receipts"
    auth = (b"authorization", f"Bearer {DEMO_API_KEY}".encode())
    text = (b"content-type", b"application/edi-x12")
    two_mb = b"ISA" + b"*" * (2 * 1024 * 1024)
    status, body, _ = asgi_post(
        app, path, [auth, text, (b"content-length", str(len(two_mb)).encode())], [two_mb]
    )
    assert status == 422, body  # read and parsed: not EDI, but not too large either
    status, body, read = asgi_post(app, path, [auth, text, (b"content-length", b"6000000")], [b""])
    assert (status, read) == (413, 0), body


@pytest.mark.parametrize("key", [None, "rh_not_a_key"])
def test_api_bodies_are_not_read_without_a_valid_key(client: TestClient, key: str | None) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    status, body, read = asgi_post(app, "/api/v1/customers", headers, [b"{}"])
    assert (status, read) == (401, 0), body
    assert json.loads(body)["errors"][0]["code"] == "unauthorized"


# ---- 8. NUL bytes; 9. strange numbers, nesting and surrogates: 4xx, never 500 ------------------


def test_nul_in_an_api_body_is_422_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/v1/customers", json={"name": "Ada\u0000", "emails": ["a@example.com"]}
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["code"]) for e in errors_of(response)] == [("name", "invalid_text")]
    nested = client.post(
        "/api/v1/customers",
        content=b'{"name": "x", "tags": ["ok", "b\\u0000d"]}',
        headers={"content-type": "application/json"},
    )
    assert nested.status_code == 422, nested.text
    assert errors_of(nested)[0]["field"] == "tags.1"


@pytest.mark.parametrize("query", ["email=a%00b@example.com", "name=%00", "name=a%2500"])
def test_nul_in_a_query_string_is_400(client: TestClient, query: str) -> None:
    response = client.get(f"/api/v1/customers?{query}")
    if query.endswith("%2500"):  # "%00" as text, not a NUL: an ordinary search
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.text
    assert errors_of(response)[0]["code"] == "invalid_text"


def test_nul_in_form_posts_is_400(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    ret = create_return(client, order)
    token = portal_link(client, order["id"])
    line = order["lines"][0]["id"]
    csrf = csrf_of(client.get(f"/r/{token}").text)
    portal = client.post(
        f"/r/{token}",
        data={
            "csrf": csrf,
            f"qty_{line}": "1",
            f"outcome_{line}": "refund",
            f"comment_{line}": "a\u0000b",
        },
    )
    assert portal.status_code == 400, portal.text
    client.headers.pop("Authorization")
    agent_csrf = sign_in(client)
    note = client.post(
        f"/agent/returns/{ret['id']}/notes", data={"csrf": agent_csrf, "body": "x\u0000"}
    )
    assert note.status_code == 400, note.text
    assert errors_of(note)[0]["code"] == "invalid_text"


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"first_name": "Ada\\u0000"}', 422, "invalid_text"),
        (b'{"first_name": "\\ud800"}', 422, "invalid_text"),
        (b'{"id": ' + b"9" * 5000 + b"}", 400, "number_too_long"),
        (b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "too_deep"),
    ],
)
def test_signed_webhooks_that_cannot_be_stored_are_refused_for_good(
    hub: tuple[TestClient, Worker], db: Database, raw: bytes, status: int, code: str
) -> None:
    client, _ = hub
    body = json.dumps(loop_payload())[:-1].encode() + b", " + raw[1:]
    response = signed_loop(client, body)
    assert response.status_code == status, response.text
    assert errors_of(response)[0]["code"] == code
    with db.read() as session:
        assert session.scalars(select(InboxEvent)).all() == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "' + b"\\ud800" + b'"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"name": ' + b"1" * 5000 + b"}",
    ],
)
def test_api_bodies_that_cannot_be_stored_are_4xx(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/api/v1/customers", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    errors_of(response)


@pytest.mark.parametrize("quantity", ["²", "①", "٣", "1" * 5000, "-1", "1e3"])
def test_portal_quantities_that_are_not_ascii_numbers_are_explained(
    client: TestClient, clock: Clock, quantity: str
) -> None:
    order = create_order(client, clock.now)
    token = portal_link(client, order["id"])
    line = order["lines"][0]["id"]
    csrf = csrf_of(client.get(f"/r/{token}").text)
    response = client.post(
        f"/r/{token}", data={"csrf": csrf, f"qty_{line}": quantity, f"outcome_{line}": "refund"}
    )
    assert response.status_code == 422, response.text
    assert "Quantities must be whole numbers." in response.text


# ---- 17. docs and metrics private in production; no private webhook targets --------------------


PRIVATE_PATHS = ["/metrics", "/docs", "/redoc", "/openapi.json"]


def test_docs_and_metrics_answer_only_an_admin_key_in_production(
    settings: Settings, db: Database, clock: Clock
) -> None:
    app = create_app(production(settings), db, clock, worker=False)
    with db.write() as session:
        _, helpdesk = keys.create_key(session, ["helpdesk"], "narrow")
    admin = admin_key(db)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in PRIVATE_PATHS:
            assert client.get(path).status_code == 401, path
            narrow = client.get(path, headers={"Authorization": f"Bearer {helpdesk}"})
            assert narrow.status_code == 403, path
            assert (
                client.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200
            ), path


def test_docs_and_metrics_can_be_made_public(
    settings: Settings, db: Database, clock: Clock
) -> None:
    public = production(settings, docs_public=True, metrics_public=True)
    with TestClient(create_app(public, db, clock, worker=False)) as client:
        assert [client.get(p).status_code for p in PRIVATE_PATHS] == [200] * 4
    closed_demo = settings.model_copy(update={"docs_public": False, "metrics_public": False})
    with TestClient(create_app(closed_demo, db, clock, worker=False)) as client:
        assert [client.get(p).status_code for p in PRIVATE_PATHS] == [401] * 4


def test_the_docs_page_allows_only_its_own_inline_script(client: TestClient) -> None:
    response = client.get("/docs")
    policy = response.headers["content-security-policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.5/hook",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://0.0.0.0:9/hook",
    ],
)
def test_webhook_subscriptions_to_internal_addresses_are_refused(
    settings: Settings, db: Database, clock: Clock, url: str
) -> None:
    closed = settings.model_copy(update={"webhook_allow_private_targets": False})
    app = create_app(closed, Database(db.engine, closed), clock, worker=False)
    with TestClient(app, headers=AUTH) as client:
        response = client.post(
            "/api/v1/webhook-subscriptions", json={"url": url, "event_types": ["*"]}
        )
    assert response.status_code == 422, response.text
    error = errors_of(response)[0]
    assert (error["field"], error["code"]) == ("url", "invalid_url")
    assert "RETURNHUB_WEBHOOK_ALLOW_PRIVATE_TARGETS" in error["message"]


def test_delivery_checks_the_address_again(
    settings: Settings, db: Database, clock: Clock, httpserver: HTTPServer
) -> None:
    """Made while internal receivers were allowed (or before its name pointed inside): the
    delivery is parked for a person, and nothing is sent."""
    with TestClient(create_app(settings, db, clock, worker=False), headers=AUTH) as client:
        made = client.post(
            "/api/v1/webhook-subscriptions",
            json={"url": httpserver.url_for("/hook"), "event_types": ["*"]},
        )
        assert made.status_code == 201, made.text
        create_customer(client)
    closed = settings.model_copy(update={"webhook_allow_private_targets": False})
    worker = Worker(db, closed, clock=clock)
    try:
        worker.drain()
    finally:
        worker.close()
    assert httpserver.log == []
    with db.read() as session:
        job = session.scalars(select(OutboxJob).where(OutboxJob.kind == "webhook.deliver")).one()
        assert job.status == "dead"
        assert "private, loopback or link-local" in (job.last_error or "")


# ---- kept: CSRF on every form, escaped output, literal LIKE matching ---------------------------


def test_every_form_post_needs_its_csrf_token(client: TestClient, clock: Clock) -> None:
    order = create_order(client, clock.now)
    ret = create_return(client, order)
    token = portal_link(client, order["id"])
    customer = order["customer_id"]
    client.headers.pop("Authorization")
    refused = [client.post(f"/r/{token}", data={f"qty_{order['lines'][0]['id']}": "1"})]
    client.get("/agent/login")
    refused.append(client.post("/agent/login", data={"api_key": DEMO_API_KEY}))
    sign_in(client)
    for path in [
        "/agent/logout",
        f"/agent/customers/{customer}/links",
        f"/agent/customers/{customer}/unlink",
        f"/agent/orders/{order['id']}/return-link",
        f"/agent/orders/{order['id']}/exception",
        f"/agent/returns/{ret['id']}/notes",
        f"/agent/returns/{ret['id']}/actions/authorize",
    ]:
        refused.append(client.post(path, data={"csrf": "forged", "body": "x", "reason": "x"}))
    assert [r.status_code for r in refused] == [403] * 9
    # Nothing happened: still signed in, no note, no link, no exception.
    assert client.get("/agent", follow_redirects=False).status_code == 200
    client.headers.update(AUTH)
    detail = client.get(f"/api/v1/returns/{ret['id']}").json()
    assert (detail["state"], detail["notes"]) == ("requested", [])


def test_names_from_strangers_are_escaped_on_every_page(client: TestClient, clock: Clock) -> None:
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    customer = create_customer(client, name=evil)
    order = create_order(client, clock.now, customer_id=customer["id"])
    ret = create_return(client, order)
    token = portal_link(client, order["id"])
    pages = [client.get(f"/r/{token}").text, client.get(f"/r/{token}/returns/{ret['id']}").text]
    client.headers.pop("Authorization")
    sign_in(client)
    pages.append(client.get(f"/agent/customers/{customer['id']}").text)
    pages.append(client.get(f"/agent/returns/{ret['id']}").text)
    pages.append(client.get("/agent", params={"q": evil}).text)
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[2]


@pytest.mark.parametrize("pattern", ["%", "_", "\\", "%a%"])
def test_search_wildcards_match_literally(client: TestClient, pattern: str) -> None:
    create_customer(client, name="Ada Lovelace", emails=["ada@example.com"])
    found = client.get("/api/v1/customers", params={"name": pattern})
    assert found.status_code == 200
    assert found.json()["data"] == []


def test_a_write_reads_its_key_once(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard checks the key before the body; the route then uses what the guard found
    instead of looking the key up again."""
    raw = admin_key(db)
    lookups: list[str] = []
    real = keys.authenticate

    def counted(session: Any, token: str) -> Any:
        lookups.append(token)
        return real(session, token)

    monkeypatch.setattr("returnhub.api.deps.authenticate", counted)
    body = {"name": "Once", "emails": [], "phones": [], "tags": []}
    response = client.post(
        "/api/v1/customers", json=body, headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 201, response.text
    assert lookups == [raw]
