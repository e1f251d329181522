"""The one way we call other systems over HTTP: every failure becomes a typed DeliveryError."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx

from returnhub.connectors.errors import Timeout, Unreachable, classify_status


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    allow_status: Collection[int] = (),
    **kwargs: Any,
) -> httpx.Response:
    """Send and return a 2xx response, or one whose status is in ``allow_status`` (a status the
    connector gives its own meaning, e.g. Gladly's 409 "already exists"); raise the
    DeliveryError that fits anything else."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise Timeout(f"{method} {url} timed out: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise Unreachable(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code not in allow_status:
        raise_for_status(response.status_code, response.text, response.headers.get("retry-after"))
    return response


def raise_for_status(status: int, text: str, retry_after: str | None) -> None:
    """Raise the DeliveryError a non-2xx answer means; nothing for a 2xx."""
    error = classify_status(status, text, retry_after)
    if error is not None:
        raise error
