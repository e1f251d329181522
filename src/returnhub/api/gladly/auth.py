"""Authenticating Gladly's calls: request signing, Basic auth and a static header token.

Every method the merchant configured must pass. With none configured the adaptor is open in
demo mode only; production refuses, naming the settings to set.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import timedelta

from returnhub.connectors.gladly import signing
from returnhub.settings import Settings


class GladlyAuthError(Exception):
    def __init__(self, attr: str, detail: str) -> None:
        super().__init__(detail)
        self.attr = attr
        self.detail = detail


def authenticate(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings,
) -> None:
    """Raise GladlyAuthError unless the request passes every configured method; ``headers``
    with lower-case names, ``query`` the raw query string."""
    configured = False
    key = settings.gladly_signing_key.get_secret_value()
    if key:
        configured = True
        max_age = settings.gladly_signature_max_age_seconds
        try:
            signing.verify(
                key,
                method,
                path,
                query,
                headers,
                body,
                max_age=timedelta(seconds=max_age) if max_age else None,
            )
        except signing.SigningError as exc:
            raise GladlyAuthError("Gladly-Authorization", str(exc)) from None
    password = settings.gladly_basic_password.get_secret_value()
    if settings.gladly_basic_username or password:
        configured = True
        _check_basic(headers.get("authorization", ""), settings.gladly_basic_username, password)
    token = settings.gladly_header_token.get_secret_value()
    if token:
        configured = True
        given = headers.get(settings.gladly_header_name.lower(), "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise GladlyAuthError(
                settings.gladly_header_name,
                f"missing or wrong {settings.gladly_header_name} header: is it set in the Gladly "
                "app's Headers to the value of RETURNHUB_GLADLY_HEADER_TOKEN?",
            )
    if not configured and not settings.is_demo:
        raise GladlyAuthError(
            "Authorization",
            "the Gladly adaptor has no authentication configured; set RETURNHUB_GLADLY_SIGNING_KEY "
            "(recommended), Basic credentials or RETURNHUB_GLADLY_HEADER_TOKEN",
        )


def _check_basic(header: str, username: str, password: str) -> None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise GladlyAuthError(
            "Authorization",
            "missing Basic credentials: set the username and password in the Gladly app",
        )
    try:
        user, _, given = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise GladlyAuthError("Authorization", "malformed Basic credentials") from None
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_password = hmac.compare_digest(given.encode(), password.encode())
    if not (ok_user and ok_password):
        raise GladlyAuthError(
            "Authorization",
            "wrong Basic credentials: compare the Gladly app's username and password with "
            "RETURNHUB_GLADLY_BASIC_USERNAME and RETURNHUB_GLADLY_BASIC_PASSWORD",
        )
