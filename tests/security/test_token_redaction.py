"""A return link's token is the customer's credential: it never reaches a log file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from returnhub.logs import configure_logging
from returnhub.settings import Settings
from tests.conftest import AUTH, PRODUCTION_SECRET_KEY
from tests.factories import order_body

# processes is the reliability tests' fixture, reused (pytest finds it by name).
from tests.test_reliability import (  # noqa: F401
    Processes,
    free_port,
    hub_env,
    processes,
    wait_until,
)


def test_served_access_log_never_shows_a_token(
    tmp_path: Path,
    processes: Processes,  # noqa: F811
) -> None:
    port = free_port()
    env = hub_env(f"sqlite:///{tmp_path / 'hub.db'}", RETURNHUB_ACCESS_LOG="true")
    server = processes.start("serve", ["serve", "--port", str(port)], env)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as client:

        def ready() -> bool:
            if server.poll() is not None:
                pytest.fail(f"returnhub serve exited\n{processes.output()}")
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 30, "returnhub serve", processes)
        now = datetime.now(UTC)
        customer = client.post(
            "/api/v1/customers", json={"name": "Ana", "emails": ["ana@example.com"]}
        ).json()
        order = client.post(
            "/api/v1/orders",
            json=order_body(customer["id"], now - timedelta(days=1), delivered_days_ago=2),
        ).json()
        link = client.post(f"/api/v1/orders/{order['id']}/return-link", json={}).json()
        token = link["url"].rsplit("/", 1)[-1]
        assert client.get(f"/r/{token}").status_code == 200
        assert client.get(f"/api/v1/return-links/{token}").status_code == 200
        assert client.get(f"/r/{token}x/returns/ret_nope?lang=en").status_code == 403
    server.terminate()
    server.wait(10)
    logged = processes.output()
    assert '"GET /r/[redacted] HTTP/1.1" 200' in logged, logged
    assert '"GET /api/v1/return-links/[redacted] HTTP/1.1" 200' in logged
    assert '"GET /r/[redacted]/returns/ret_nope?lang=en HTTP/1.1" 403' in logged
    signature = token.rsplit(".", 1)[-1]
    assert signature not in logged


def _render(event: dict[str, Any]) -> str:
    """One event through the processors ``configure_logging`` installs, as written."""
    rendered: Any = event
    for processor in structlog.get_config()["processors"]:
        rendered = processor(None, "error", rendered)
    assert isinstance(rendered, str)
    return rendered


@pytest.mark.parametrize("mode", ["demo", "production"])
def test_error_logs_and_tracebacks_never_show_a_token(mode: str) -> None:
    token = "eyJvIjoib3JkXzAxIn0.c2lnbmF0dXJlLW9mLXRoZS1saW5r"
    configure_logging(Settings(mode=mode, secret_key=PRODUCTION_SECRET_KEY, _env_file=None))
    path = "/r/" + token
    try:
        raise RuntimeError("template failed for " + path + "/returns/ret_1")
    except RuntimeError as exc:
        line = _render({"event": "unhandled_error", "path": path, "exc_info": exc, "n": 3})
    assert token not in line and token.split(".")[1] not in line
    assert line.count("/r/[redacted]") == 2, line
    assert "RuntimeError" in line
