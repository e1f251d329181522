"""Response headers that keep pages safe in a browser.

Every HTML page gets a Content-Security-Policy that allows scripts and styles only from this
hub's own /static files (no inline script or handler: a stored ``<script>`` or ``javascript:``
link that slipped through escaping would still not run), may not be framed (clickjacking), and
is never cached (agent pages and the portal show customers' personal data). Every answer but
static files is ``no-store``; none is MIME-sniffed or sends a Referer (the portal's URLs carry
the customer's return-link token).

FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from jsDelivr and start them with
an inline script: their policy allows that CDN and exactly the inline scripts they carry, by
hash, and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_PAGES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
DOCS_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
PAGE = [(b"x-frame-options", b"DENY")]


def docs_policy(body: bytes) -> str:
    """The policy of one documentation page: the CDN and the page's own inline scripts."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return (
        f"default-src 'self'; script-src 'self' {DOCS_CDN} {hashes}; "
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN} https://fonts.googleapis.com; "
        "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
        f"{DOCS_CDN}; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


def _headers(start: Message, policy: str | None, path: str) -> Message:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"cache-control"]
    cached = [(k, v) for k, v in start.get("headers", []) if k.lower() == b"cache-control"]
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    headers.extend(COMMON)
    if path.startswith("/static/"):
        headers.extend(cached)
    else:
        headers.append((b"cache-control", b"no-store"))
    if content_type.startswith(b"text/html"):
        headers.extend(PAGE)
        headers.append((b"content-security-policy", (policy or PAGE_POLICY).encode()))
    return {**start, "headers": headers}


class PageHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in DOCS_PAGES:
            await self._docs(path, scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _headers(message, None, path)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Held whole (a few kB): the policy names the hashes of the body's scripts."""
        start: Message | None = None
        parts: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, hold)
        if start is None:
            return
        body = b"".join(parts)
        await send(_headers(start, docs_policy(body), path))
        await send({"type": "http.response.body", "body": body})
