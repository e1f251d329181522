"""Loop as a searchable system: a Loop "customer" is an email with returns behind it.

Per Gladly's own Loop app (the reference, section 2.2): one request per email, at most 5
emails, the last year, at most 10 returns each, and any return whose customer email is not
the one asked for is dropped (it guards against mismatched links).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from returnhub.connectors.base import (
    Capability,
    ConnectorSpec,
    ExternalProfile,
    SearchQuery,
    lower_emails,
)
from returnhub.connectors.errors import DeliveryError, MappingError, RateLimited
from returnhub.connectors.http import send
from returnhub.connectors.loop import webhooks
from returnhub.connectors.ratelimit import TokenBucket
from returnhub.domain.external import ExternalReturn
from returnhub.store.types import utcnow

SPEC = ConnectorSpec(
    key="loop",
    display_name="Loop Returns",
    capabilities=frozenset(
        {
            Capability.SEARCH_CUSTOMERS,
            Capability.SEARCH_ORDERS,
            Capability.PULL_RETURNS,
            Capability.PUSH_DECISION,
            Capability.RETURN_LINK,
            Capability.ALLOWLIST,
            Capability.RECEIVE_WEBHOOKS,
        }
    ),
    settings=("loop_api_key",),
    webhook_path="/webhooks/loop",
)
MAX_EMAILS = 5
MAX_RETURNS = 10
WINDOW = timedelta(days=365)


class LoopSystem:
    spec = SPEC

    def __init__(
        self, base_url: str, api_key: str, http: httpx.Client, bucket: TokenBucket
    ) -> None:
        # Settings hold the v1 base (warehouse endpoints); the returns list lives under v2.
        self.v1 = base_url.rstrip("/")
        self.v2 = self.v1[: -len("/v1")] + "/v2" if self.v1.endswith("/v1") else self.v1
        self.api_key = api_key
        self.http = http
        self.bucket = bucket

    def _get(self, url: str, params: dict[str, Any], timeout: float) -> Any:
        if not self.bucket.acquire(timeout=timeout):
            raise RateLimited("Loop allows 300 requests a minute; the budget ran out waiting")
        response = send(
            self.http,
            "GET",
            url,
            params=params,
            headers={"X-Authorization": self.api_key, "Accept": "application/json"},
            timeout=timeout,
        )
        try:
            return response.json()
        except ValueError:
            raise MappingError(f"Loop answered {url} with something that is not JSON") from None

    def returns_for_email(
        self, email: str, timeout: float, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        since = ((now or utcnow()) - WINDOW).strftime("%Y-%m-%d")
        body = self._get(
            f"{self.v2}/returns",
            {"filter": "updated_at", "limit": MAX_RETURNS, "from": since, "customer_email": email},
            timeout,
        )
        rows = body.get("data", body) if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise MappingError("Loop's returns list has no data array")
        return [r for r in rows[:MAX_RETURNS] if isinstance(r, dict) and _email(r) == email]

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]:
        profiles: list[ExternalProfile] = []
        for email in lower_emails(query.emails)[:MAX_EMAILS]:
            returns = self.returns_for_email(email, timeout)
            if returns:
                profiles.append(_profile(email, returns))
        if query.order_number:
            name = "#" + query.order_number.strip().lstrip("#")
            body = self._get(f"{self.v1}/warehouse/return/details", {"order_name": name}, timeout)
            rows = (
                body
                if isinstance(body, list)
                else [body]
                if isinstance(body, dict) and body.get("id")
                else []
            )
            by_email: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                if isinstance(row, dict) and _email(row):
                    by_email.setdefault(_email(row), []).append(row)
            profiles.extend(_profile(email, rs) for email, rs in by_email.items())
        return profiles

    def return_details(self, return_id: str, timeout: float) -> ExternalReturn:
        """One return as Loop holds it now (``current``): what settles events whose payloads
        cannot say which is newer."""
        body = self._get(f"{self.v1}/warehouse/return/details", {"return_id": return_id}, timeout)
        row = body[0] if isinstance(body, list) and body else body
        if not isinstance(row, dict) or str(row.get("id") or "") != return_id:
            raise MappingError(f"Loop's return details for {return_id} do not describe that return")
        return replace(webhooks.map_return(row), current=True)

    def pull_returns(self, profile: ExternalProfile, timeout: float) -> list[ExternalReturn]:
        pulled: list[ExternalReturn] = []
        for email in (profile.external_id, *profile.emails)[:MAX_EMAILS]:
            for row in self.returns_for_email(email.lower(), timeout):
                try:
                    pulled.append(webhooks.map_return(row))
                except DeliveryError:
                    continue  # one unreadable return must not hide the others
            if pulled:
                break
        return pulled


def _email(row: dict[str, Any]) -> str:
    detail = row.get("customer_detail") or {}
    value = row.get("customer") or (detail.get("email") if isinstance(detail, dict) else "")
    return str(value or "").strip().lower()


def _profile(email: str, returns: list[dict[str, Any]]) -> ExternalProfile:
    detail: dict[str, Any] = next(
        (r["customer_detail"] for r in returns if isinstance(r.get("customer_detail"), dict)), {}
    )
    name = " ".join(
        p for p in (detail.get("first_name"), detail.get("last_name")) if isinstance(p, str) and p
    )
    return ExternalProfile(
        system="loop",
        external_id=email,
        name=name,
        emails=(email,),
        order_names=tuple(
            dict.fromkeys(str(r.get("order_name")) for r in returns if r.get("order_name"))
        ),
    )
