"""A small client for Gladly's REST API (the calls we make to Gladly, not the Lookup Adaptor).

Contract: shared/reference/gladly.md §3 and Gladly's REST OpenAPI ("Create Item"):

* ``{org}.gladly.com/api/v1``, HTTP Basic with the API user's email and an API token.
* 10 requests per second per organisation: every call first takes a token from a shared
  ``TokenBucket``; a 429 still becomes ``RateLimited`` (with ``Retry-After``) for the outbox.
* ``POST /conversation-items`` accepts a client-chosen ``id`` (URL-safe, under 50 characters) and
  answers 409 ``taken`` when an item with that id exists: a redelivery with the same id is
  therefore a no-op, which is what makes at-least-once delivery post each activity once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from returnhub.connectors.errors import ClientError, ConfigurationError, RateLimited
from returnhub.connectors.http import send
from returnhub.connectors.ratelimit import TokenBucket, shared_bucket
from returnhub.settings import Settings

CUSTOMER_ACTIVITY = "CUSTOMER_ACTIVITY"
# Gladly's enum for CUSTOMER_ACTIVITY.activityType; it only picks the timeline icon.
ACTIVITY_TYPES = frozenset({"EMAIL", "ISSUE", "SMS", "SURVEY"})
CUSTOMER_KEYS = frozenset({"emailAddress", "mobilePhone"})
# Field limits from Gladly's schema; longer values are refused with a 400.
MAX_ID, MAX_TITLE, MAX_BODY, MAX_SOURCE_NAME, MAX_LINK_TEXT = 49, 100, 25_000, 50, 50
_URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
USER_AGENT = "returnhub-gladly/1"
# No bursts: requests go out at most every 1/rate seconds, so no window of one second ever
# holds more than the limit, however Gladly aligns its windows.
BURST = 1


@dataclass(frozen=True)
class ItemResult:
    id: str
    created: bool  # False: Gladly already had an item with this id (a redelivery)


def api_root(base_url: str) -> str:
    """``https://acme.gladly.com``, with or without a trailing ``/`` or ``/api/v1``."""
    root = base_url.strip().rstrip("/")
    return root.removesuffix("/api/v1").rstrip("/")


def rfc3339_millis(moment: datetime) -> str:
    """Gladly's timestamp format, e.g. ``2030-01-15T12:00:00.000Z``."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def client_from_settings(settings: Settings, http: httpx.Client) -> GladlyClient:
    """The client for this hub's Gladly organisation, sharing the process-wide rate limiter;
    ConfigurationError (naming the variables to set) when the REST API is not configured."""
    base_url = settings.gladly_base_url.strip()
    user = settings.gladly_api_user.strip()
    token = settings.gladly_api_token.get_secret_value()
    missing = [
        name
        for name, value in (
            ("RETURNHUB_GLADLY_BASE_URL", base_url),
            ("RETURNHUB_GLADLY_API_USER", user),
            ("RETURNHUB_GLADLY_API_TOKEN", token),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            "Gladly's REST API is not configured: set RETURNHUB_GLADLY_BASE_URL (your "
            "organisation's URL, e.g. https://acme.gladly.com), RETURNHUB_GLADLY_API_USER (the "
            "email of a user with the API User permission) and RETURNHUB_GLADLY_API_TOKEN "
            f"(that user's API token); missing: {', '.join(missing)}"
        )
    root = api_root(base_url)
    limiter = shared_bucket(f"gladly:{root}", settings.gladly_rate_limit_per_second, BURST)
    return GladlyClient(
        root, user, token, http, limiter, acquire_timeout=settings.outbound_timeout_seconds
    )


class GladlyClient:
    def __init__(
        self,
        base_url: str,
        user: str,
        token: str,
        http: httpx.Client,
        limiter: TokenBucket,
        *,
        acquire_timeout: float = 10.0,
    ) -> None:
        self.root = api_root(base_url)
        self._auth = httpx.BasicAuth(user, token)
        self._http = http
        self._limiter = limiter
        self._acquire_timeout = acquire_timeout

    def create_conversation_item(
        self,
        customer: Mapping[str, str],
        *,
        item_id: str,
        title: str,
        body: str,
        activity_type: str,
        source_name: str,
        link_url: str,
        link_text: str,
        occurred_at: datetime | None = None,
    ) -> ItemResult:
        """Add a CUSTOMER_ACTIVITY to the timeline of the customer identified by
        ``{"emailAddress": …}`` or ``{"mobilePhone": "+1…"}`` (Gladly creates the profile when
        none matches). ``item_id`` must be the same on every retry of one activity."""
        if len(customer) != 1 or not CUSTOMER_KEYS.issuperset(customer):
            raise ValueError(f"identify the customer by one of {sorted(CUSTOMER_KEYS)}")
        if not _URL_SAFE.match(item_id) or len(item_id) > MAX_ID:
            raise ValueError(f"item id {item_id!r} must be URL-safe and under 50 characters")
        if activity_type not in ACTIVITY_TYPES:
            raise ValueError(f"activity type must be one of {sorted(ACTIVITY_TYPES)}")
        content: dict[str, Any] = {
            "type": CUSTOMER_ACTIVITY,
            "title": _clip(title, MAX_TITLE),
            "body": _clip(body, MAX_BODY),
            "activityType": activity_type,
            "sourceName": _clip(source_name, MAX_SOURCE_NAME),
            "link": {"url": link_url, "text": _clip(link_text, MAX_LINK_TEXT)},
        }
        if occurred_at is not None:
            content["occurredAt"] = rfc3339_millis(occurred_at)
        payload = {"id": item_id, "customer": dict(customer), "content": content}
        response = self._post("/api/v1/conversation-items", payload, allow_status=(409,))
        if response.status_code == 409:
            if "taken" not in _error_codes(response):
                raise ClientError(f"409 from Gladly: {response.text[:300]}")
            return ItemResult(id=item_id, created=False)
        return ItemResult(id=str(_json(response).get("id", item_id)), created=True)

    def _post(
        self, path: str, payload: Mapping[str, Any], *, allow_status: tuple[int, ...] = ()
    ) -> httpx.Response:
        if not self._limiter.acquire(self._acquire_timeout):
            # Our own budget is exhausted for longer than we are willing to hold a worker
            # thread: give the job back to the outbox rather than queue behind the limiter.
            raise RateLimited(
                f"the client-side Gladly limit ({self._limiter.rate:g}/s) is saturated",
                retry_after=1.0,
            )
        try:
            return send(
                self._http,
                "POST",
                f"{self.root}{path}",
                json=payload,
                auth=self._auth,
                headers={"accept": "application/json", "user-agent": USER_AGENT},
                allow_status=allow_status,
            )
        except ConfigurationError as exc:
            raise ConfigurationError(
                "Gladly refused our credentials: is RETURNHUB_GLADLY_API_USER the email of a "
                "Gladly user with the API User permission, RETURNHUB_GLADLY_API_TOKEN one of "
                "that user's API tokens, and RETURNHUB_GLADLY_BASE_URL your organisation's "
                f"Gladly URL? ({exc.message})"
            ) from None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_codes(response: httpx.Response) -> set[str]:
    errors = _json(response).get("errors")
    if not isinstance(errors, list):
        return set()
    return {str(e.get("code")) for e in errors if isinstance(e, dict)}
