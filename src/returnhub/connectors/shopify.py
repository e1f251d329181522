"""Shopify (GraphQL Admin API): customers by email or phone, orders by name.

Archived (closed) orders are left out, as in Gladly's own Shopify search. Shopify throttles
by a leaky bucket; we stay well inside it client-side (40 requests of burst, 2 a second).
"""

from __future__ import annotations

from typing import Any

import httpx

from returnhub.connectors.base import (
    Capability,
    ConnectorSpec,
    ExternalPhone,
    ExternalProfile,
    SearchQuery,
    lower_emails,
)
from returnhub.connectors.http import send
from returnhub.connectors.ratelimit import TokenBucket
from returnhub.delivery.errors import ClientError, MappingError, RateLimited

SPEC = ConnectorSpec(
    key="shopify",
    display_name="Shopify",
    capabilities=frozenset(
        {Capability.SEARCH_CUSTOMERS, Capability.SEARCH_ORDERS, Capability.RECEIVE_WEBHOOKS}
    ),
    settings=("shopify_base_url", "shopify_access_token"),
    webhook_path="/webhooks/shopify",
)

CUSTOMERS = """
query Customers($query: String!) {
  customers(first: 10, query: $query) {
    edges { node { id displayName email phone } }
  }
}
""".strip()

ORDERS = """
query Orders($query: String!) {
  orders(first: 5, query: $query) {
    edges { node { id name closed customer { id displayName email phone } } }
  }
}
""".strip()


def _search_value(value: str) -> str:
    # Shopify search syntax: quote the value so '+' and '@' are taken literally.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ShopifySystem:
    spec = SPEC

    def __init__(
        self, base_url: str, token: str, api_version: str, http: httpx.Client, bucket: TokenBucket
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/admin/api/{api_version}/graphql.json"
        self.token = token
        self.http = http
        self.bucket = bucket

    def _query(self, document: str, variables: dict[str, Any], timeout: float) -> dict[str, Any]:
        if not self.bucket.acquire(timeout=timeout):
            raise RateLimited("Shopify's request bucket is empty; the budget ran out waiting")
        response = send(
            self.http,
            "POST",
            self.url,
            json={"query": document, "variables": variables},
            headers={"X-Shopify-Access-Token": self.token},
            timeout=timeout,
        )
        try:
            body = response.json()
        except ValueError:
            raise MappingError("Shopify answered with something that is not JSON") from None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            text = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
            if "throttled" in text.lower():
                raise RateLimited(f"Shopify throttled the query: {text}", retry_after=1.0)
            raise ClientError(f"Shopify GraphQL error: {text}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise MappingError("Shopify's answer has no data")
        return data

    def search_customers(self, query: SearchQuery, timeout: float) -> list[ExternalProfile]:
        terms = [f"email:{_search_value(e)}" for e in lower_emails(query.emails)]
        terms += [f"phone:{_search_value(p)}" for p in query.phones]
        profiles: dict[str, ExternalProfile] = {}
        if terms:
            data = self._query(CUSTOMERS, {"query": " OR ".join(terms)}, timeout)
            for edge in data.get("customers", {}).get("edges", []):
                profile = _profile(edge.get("node") or {})
                if profile is not None:
                    profiles[profile.external_id] = profile
        if query.order_number:
            name = "#" + query.order_number.strip().lstrip("#")
            data = self._query(ORDERS, {"query": f"name:{_search_value(name)}"}, timeout)
            for edge in data.get("orders", {}).get("edges", []):
                node = edge.get("node") or {}
                if node.get("closed"):
                    continue  # archived orders do not appear, as in Shopify's admin search
                profile = _profile(
                    node.get("customer") or {}, order_name=str(node.get("name") or "")
                )
                if profile is not None:
                    profiles[profile.external_id] = profile
        return list(profiles.values())


def _profile(node: dict[str, Any], order_name: str = "") -> ExternalProfile | None:
    gid = node.get("id")
    if not gid:
        return None
    email = str(node.get("email") or "").strip().lower()
    phone = str(node.get("phone") or "").strip()
    return ExternalProfile(
        system="shopify",
        external_id=str(gid),
        name=str(node.get("displayName") or ""),
        emails=(email,) if email else (),
        # Shopify's customer phone is the one used for SMS, i.e. a mobile.
        phones=(ExternalPhone(phone, "MOBILE"),) if phone else (),
        order_names=(order_name,) if order_name else (),
    )
