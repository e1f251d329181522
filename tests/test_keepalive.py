"""The keep-alive pool behind webhook deliveries: reuse, stale connections, errors, proxies."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from returnhub.connectors import keepalive
from returnhub.connectors.errors import (
    ClientError,
    ConfigurationError,
    RateLimited,
    ServerError,
    Timeout,
    Unreachable,
)
from returnhub.connectors.keepalive import KeepAlivePool


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (the timeout test) leaves a broken pipe behind: not news


class CountingServer:
    """HTTP/1.1 keep-alive server that counts connections; can drop each connection after one
    answer without saying so (as a server whose idle timeout fired does)."""

    def __init__(self, *, drop_after_answer: bool = False, delay: float = 0.0) -> None:
        self.connections = 0
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.requests.append((self.path, body, dict(self.headers.items())))
                time.sleep(delay)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                if drop_after_answer:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> CountingServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pool() -> Iterator[KeepAlivePool]:
    fallback = httpx.Client(timeout=2)
    keepalive_pool = KeepAlivePool(fallback, timeout=2)
    yield keepalive_pool
    keepalive_pool.close()
    fallback.close()


def test_posts_reuse_one_connection(pool: KeepAlivePool) -> None:
    with CountingServer() as server:
        for n in range(5):
            response = pool.post(server.url(f"/hooks?n={n}"), b'{"n":1}', {"x-key": f"k{n}"})
            assert (response.status_code, response.text) == (200, "ok")
    assert server.connections == 1
    assert [path for path, _, _ in server.requests] == [f"/hooks?n={n}" for n in range(5)]
    _, body, headers = server.requests[0]
    assert body == b'{"n":1}'
    assert headers["x-key"] == "k0"


def test_a_connection_the_server_closed_is_replaced_and_the_post_sent_once(
    pool: KeepAlivePool,
) -> None:
    with CountingServer(drop_after_answer=True) as server:
        for _ in range(3):
            assert pool.post(server.url("/hooks"), b"{}", {}).status_code == 200
    assert len(server.requests) == 3
    assert server.connections == 3


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        (500, {}, ServerError),
        (429, {"Retry-After": "7"}, RateLimited),
        (401, {}, ConfigurationError),
        (404, {}, ClientError),
    ],
)
def test_answers_become_the_same_errors_as_elsewhere(
    pool: KeepAlivePool,
    httpserver: HTTPServer,
    status: int,
    headers: dict[str, str],
    error: type[Exception],
) -> None:
    httpserver.expect_request("/hooks", method="POST").respond_with_data(
        "nope", status=status, headers=headers
    )
    with pytest.raises(error) as raised:
        pool.post(httpserver.url_for("/hooks"), b"{}", {})
    if status == 429:
        assert getattr(raised.value, "retry_after", None) == 7
    assert "nope" in str(raised.value)


def test_allowed_status_is_returned(pool: KeepAlivePool, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hooks").respond_with_data("exists", status=409)
    response = pool.post(httpserver.url_for("/hooks"), b"{}", {}, allow_status={409})
    assert (response.status_code, response.text) == (409, "exists")


def test_slow_receiver_times_out() -> None:
    fallback = httpx.Client()
    slow_pool = KeepAlivePool(fallback, timeout=0.2)
    with CountingServer(delay=1.0) as server, pytest.raises(Timeout, match="timed out"):
        slow_pool.post(server.url("/hooks"), b"{}", {})
    slow_pool.close()
    fallback.close()


def test_nobody_listening_is_unreachable(pool: KeepAlivePool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unreachable, match="ConnectionRefusedError"):
        pool.post(f"http://127.0.0.1:{port}/hooks", b"{}", {})


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "http://h:port/x"])
def test_urls_we_cannot_post_to_are_client_errors(pool: KeepAlivePool, url: str) -> None:
    with pytest.raises(ClientError):
        pool.post(url, b"{}", {})


def test_proxied_origins_go_through_httpx(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, the request reaches the proxy (here the test server) in absolute
    form, as httpx sends it; a direct connection to the unresolvable host would fail."""
    seen: list[str] = []

    def proxy(request: Request) -> Response:
        seen.append(request.url)
        return Response("via proxy")

    httpserver.expect_request("/hooks").respond_with_handler(proxy)
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    keepalive._proxied.cache_clear()
    fallback = httpx.Client(timeout=2)  # reads the proxy from the environment, as in production
    try:
        response = KeepAlivePool(fallback, timeout=2).post(
            "http://merchant.invalid/hooks", b"{}", {}
        )
    finally:
        keepalive._proxied.cache_clear()
        fallback.close()
    assert response.text == "via proxy"
    assert seen and "merchant.invalid" in seen[0]
