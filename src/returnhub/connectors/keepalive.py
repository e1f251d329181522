"""Keep-alive HTTP/1.1 POSTs on the standard library, for the highest-volume outbound path.

One worker delivers hundreds of webhooks a second to merchants' endpoints. httpx spends about
0.6 ms of CPU on each such request here; ``http.client`` about 0.15 ms. This pool keeps a stack
of idle connections per origin (scheme, host, port), verifies TLS with the default context,
applies one timeout to connect and read, never follows redirects (as httpx does not), and when a
reused connection turns out to have been closed by the server meanwhile, sends once more on a
fresh one: every delivery carries an idempotency key, so a second send cannot apply twice.

Origins that the environment routes through a proxy (``HTTPS_PROXY`` and friends, as httpx
reads them) go through the httpx client instead, which honours the proxy.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx

from returnhub.connectors.errors import ClientError, Timeout, Unreachable
from returnhub.connectors.http import raise_for_status, send

Origin = tuple[str, str, int]

# A reused connection that fails this way was closed by the server while idle: send again.
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.BadStatusLine)


@dataclass(frozen=True)
class PostResponse:
    status_code: int
    text: str


class KeepAlivePool:
    def __init__(self, fallback: httpx.Client, *, timeout: float, max_idle: int = 64) -> None:
        self.fallback = fallback
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context()

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        allow_status: Collection[int] = (),
    ) -> PostResponse:
        """POST and return a 2xx response (or one in ``allow_status``); raise the fitting
        DeliveryError otherwise, exactly as ``connectors.http.send`` does."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"POST {url}: not an http(s) URL")
        if _proxied(scheme, parts.hostname):
            response = send(self.fallback, "POST", url, content=body, headers=dict(headers))
            return PostResponse(response.status_code, response.text)
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ClientError(f"POST {url}: the port is not a number") from None
        origin = (scheme, parts.hostname, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        status, text, retry_after = self._exchange(origin, path, body, headers, url)
        if status not in allow_status:
            raise_for_status(status, text, retry_after)
        return PostResponse(status, text)

    def _exchange(
        self, origin: Origin, path: str, body: bytes, headers: Mapping[str, str], url: str
    ) -> tuple[int, str, str | None]:
        for attempt in range(2):
            connection, reused = self._checkout(origin)
            try:
                connection.request("POST", path, body=body, headers=dict(headers))
                response = connection.getresponse()
                data = response.read()
            except TimeoutError:
                connection.close()
                raise Timeout(f"POST {url} timed out after {self.timeout:g} s") from None
            except _STALE as exc:
                connection.close()
                if reused and attempt == 0:
                    continue
                raise Unreachable(f"POST {url} failed: {type(exc).__name__}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise Unreachable(f"POST {url} failed: {type(exc).__name__}: {exc}") from None
            if response.will_close:
                connection.close()
            else:
                self._checkin(origin, connection)
            text = data.decode(_charset(response), errors="replace")
            return response.status, text, response.getheader("retry-after")
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _checkout(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                return idle.pop(), True
        scheme, host, port = origin
        if scheme == "https":
            return (
                http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls),
                False,
            )
        return http.client.HTTPConnection(host, port, timeout=self.timeout), False

    def _checkin(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.max_idle:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for connection in idle:
                connection.close()


def _charset(response: http.client.HTTPResponse) -> str:
    charset = response.msg.get_content_charset()
    try:
        return "utf-8" if charset is None else _known(charset)
    except LookupError:
        return "utf-8"


@cache
def _known(charset: str) -> str:
    "".encode(charset)  # LookupError for a codec Python does not have
    return charset


@cache
def _proxied(scheme: str, host: str) -> bool:
    """Whether the environment sends requests for this origin through a proxy (cached: the
    environment of a running worker does not change)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)
