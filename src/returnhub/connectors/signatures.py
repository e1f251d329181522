"""Webhook signature schemes. Every check runs over the raw body bytes, in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from standardwebhooks import Webhook


class SignatureError(Exception):
    """The request is not proven to come from the source; the message says what to check."""


def hmac_sha256_base64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_hmac_base64(
    secret: str, body: bytes, headers: Mapping[str, str], header: str, secret_hint: str
) -> None:
    """Loop's and Shopify's scheme: ``header`` = base64(HMAC-SHA256(secret, raw body))."""
    given = headers.get(header.lower())
    if not given:
        raise SignatureError(
            f"missing {header} header: is the webhook sent by the expected system, "
            "and does the proxy in front of returnhub pass that header through?"
        )
    expected = hmac_sha256_base64(secret, body)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise SignatureError(
            f"the {header} signature does not match: is {secret_hint}? "
            "The body must reach returnhub byte for byte as it was signed."
        )


def verify_standard_webhook(
    secret: str, body: bytes, headers: Mapping[str, str], secret_hint: str
) -> None:
    """Standard Webhooks: webhook-id, webhook-timestamp (5-minute tolerance), webhook-signature."""
    missing = [
        h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(h)
    ]
    if missing:
        raise SignatureError(
            f"missing {', '.join(missing)} header(s): generic webhooks must be signed with the "
            "Standard Webhooks scheme (https://www.standardwebhooks.com)"
        )
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except Exception as exc:  # the library raises several types, all meaning "not verified"
        reason = str(exc) or type(exc).__name__
        hint = (
            " Is the sender's clock right?"
            if "timestamp" in reason.lower()
            else f" Is {secret_hint}?"
        )
        raise SignatureError(f"the webhook-signature does not verify ({reason}).{hint}") from None
