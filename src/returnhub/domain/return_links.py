"""Personalised return links: signed, expiring tokens bound to one order.

    token = base64url(claims JSON) "." base64url(HMAC-SHA256(link_key, base64url(claims JSON)))

The link key is derived from RETURNHUB_SECRET_KEY for this one purpose, so a token can never
be replayed as any other kind of signed value. Tokens are stateless: nothing is stored, and
rotating the secret key revokes every outstanding link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PURPOSE = b"returnhub/return-link/v1"


class ReturnLinkError(Exception):
    """The token cannot be used; ``code`` is tampered or expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ReturnLinkClaims:
    order_id: str
    gift: bool
    expires_at: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def link_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), PURPOSE, hashlib.sha256).digest()


def issue(
    secret_key: str, order_id: str, gift: bool, now: datetime, ttl: timedelta
) -> tuple[str, ReturnLinkClaims]:
    claims = ReturnLinkClaims(order_id, gift, now + ttl, secrets.token_urlsafe(6))
    body = _b64(
        json.dumps(
            {
                "o": order_id,
                "g": int(gift),
                "e": int(claims.expires_at.timestamp()),
                "n": claims.nonce,
            },
            separators=(",", ":"),
        ).encode()
    )
    mac = _b64(hmac.new(link_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}", claims


def verify(secret_key: str, token: str, now: datetime) -> ReturnLinkClaims:
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac:
        raise ReturnLinkError("tampered", "this return link is not valid")
    expected = _b64(hmac.new(link_key(secret_key), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise ReturnLinkError("tampered", "this return link is not valid")
    try:
        data = json.loads(_unb64(body))
        claims = ReturnLinkClaims(
            order_id=str(data["o"]),
            gift=bool(data["g"]),
            expires_at=datetime.fromtimestamp(int(data["e"]), UTC),
            nonce=str(data["n"]),
        )
    except (ValueError, KeyError, TypeError, OverflowError, OSError):
        # A valid MAC over unreadable claims means a key leak or a bug; refuse all the same.
        raise ReturnLinkError("tampered", "this return link is not valid") from None
    if now >= claims.expires_at:
        raise ReturnLinkError(
            "expired",
            f"this return link expired on {claims.expires_at:%Y-%m-%d}; ask for a new one",
        )
    return claims
