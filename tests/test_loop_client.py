"""Loop's warehouse API client against a strict fake Loop: method, path, header and body."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer

from returnhub.connectors.errors import ConfigurationError, RateLimited
from returnhub.connectors.loop.client import NOTE_MAX_CHARS, LoopClient, fit_note
from returnhub.connectors.ratelimit import TokenBucket
from returnhub.settings import Settings

KEY = {"X-Authorization": "loop-key"}


@pytest.fixture
def loop(httpserver: HTTPServer) -> Iterator[LoopClient]:
    with httpx.Client(timeout=5) as http:
        yield LoopClient(httpserver.url_for("/api/v1"), "loop-key", http, TokenBucket(100, 10))
    httpserver.check_assertions()
    assert httpserver.ordered_handlers == []


@pytest.mark.parametrize(
    ("call", "path"),
    [("process_return", "process"), ("flag_return", "flag"), ("close_return", "close")],
)
def test_actions_post_to_the_warehouse_endpoints(
    loop: LoopClient, httpserver: HTTPServer, call: str, path: str
) -> None:
    httpserver.expect_ordered_request(
        f"/api/v1/warehouse/return/77/{path}", method="POST", headers=KEY, data=b""
    ).respond_with_data("true")
    getattr(loop, call)("77")


def test_note_is_cut_to_loops_limit(loop: LoopClient, httpserver: HTTPServer) -> None:
    long = "x" * 300
    httpserver.expect_ordered_request(
        "/api/v1/warehouse/return/77/note",
        method="POST",
        headers=KEY,
        json={"content": "x" * (NOTE_MAX_CHARS - 1) + "…"},
    ).respond_with_json({"id": 1})
    loop.create_note("77", long)
    assert len(fit_note(long)) == NOTE_MAX_CHARS


def test_errors_are_typed(loop: LoopClient, httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(
        "/api/v1/warehouse/return/77/flag", method="POST"
    ).respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        loop.flag_return("77")
    assert caught.value.retry_after == 7


def test_an_empty_api_key_is_a_configuration_error() -> None:
    with httpx.Client() as http, pytest.raises(ConfigurationError, match="RETURNHUB_LOOP_API_KEY"):
        LoopClient.from_settings(Settings(), http)
