"""The one way we call other systems over HTTP: every failure becomes a typed DeliveryError."""

from __future__ import annotations

from typing import Any

import httpx

from returnhub.delivery.errors import Timeout, Unreachable, classify_status


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send and return a 2xx response; raise the DeliveryError that fits anything else."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise Timeout(f"{method} {url} timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise Unreachable(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None
    error = classify_status(
        response.status_code, response.text, response.headers.get("retry-after")
    )
    if error is not None:
        raise error
    return response
