"""Shared pieces of the server-rendered pages: templates, form parsing, signed values, CSRF.

Forms are parsed from ``application/x-www-form-urlencoded`` bodies here (no python-multipart
dependency). Signed values (the agent session cookie, the portal's CSRF token) use an HMAC key
derived from RETURNHUB_SECRET_KEY for one purpose each, so one can never stand in for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.responses import Response

from returnhub.domain.errors import DomainError
from returnhub.domain.money import MINOR_UNIT_EXPONENT
from returnhub.domain.untrusted import safe_link
from returnhub.settings import Settings

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")

MAX_FORM_BYTES = 64 * 1024


def money(minor: int | None, currency: str = "") -> str:
    """Integer minor units as text in the currency's own minor unit, never through a float:
    12900 USD → 129.00 USD, 12900 JPY → 12900 JPY, 12345 KWD → 12.345 KWD."""
    value = minor or 0
    exponent = MINOR_UNIT_EXPONENT.get(currency.upper(), 2)
    whole, fraction = divmod(abs(value), 10**exponent)
    amount = f"{whole}.{fraction:0{exponent}d}" if exponent else str(whole)
    return f"{'-' if value < 0 else ''}{amount} {currency}".strip()


def when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else ""


def day(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else ""


def label(value: str) -> str:
    return value.replace("_", " ")


@pass_context
def safe_url(context: Context, url: str | None) -> str:
    """``url`` if it may be a link on a page, else "": a path on this hub, or an absolute
    https URL (http too in demo mode). Every link a template renders goes through here, so a
    ``javascript:`` URL stored by any route, old or new, never becomes a link."""
    if not url:
        return ""
    if url.startswith("/"):
        # "//host" and "/\\host" are other hosts to a browser, not paths here.
        same_site = url[1:2] not in ("/", "\\") and url.isprintable() and " " not in url
        return url if same_site else ""
    request: Request = context["request"]
    return safe_link(url, allow_http=request.app.state.context.settings.is_demo)


templates.env.filters["safe_url"] = safe_url
templates.env.filters["money"] = money
templates.env.filters["when"] = when
templates.env.filters["day"] = day
templates.env.filters["label"] = label


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded form body as a dict (last value wins); oversized bodies read as empty."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def page(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    return templates.TemplateResponse(request, name, context or {}, status_code=status)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return page(request, "error.html", {"title": title, "message": message}, status)


def domain_message(exc: DomainError) -> str:
    return "; ".join(e.message for e in exc.errors) or str(exc)


# ---- signed values -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, purpose: str, data: dict[str, Any]) -> str:
    body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(settings.purpose_key(purpose), body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(settings: Settings, purpose: str, value: str) -> dict[str, Any] | None:
    body, sep, mac = value.partition(".")
    if not sep or not body or not mac:
        return None
    expected = _b64(hmac.new(settings.purpose_key(purpose), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    try:
        data = json.loads(_unb64(body))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def mac_of(settings: Settings, purpose: str, value: str) -> str:
    return _b64(hmac.new(settings.purpose_key(purpose), value.encode(), hashlib.sha256).digest())


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())
