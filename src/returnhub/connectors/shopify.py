"""Shopify (GraphQL Admin API): customers by email or phone, orders by name, one return by id.

Archived (closed) orders are left out, as in Gladly's own Shopify search. Shopify throttles
by a leaky bucket; we stay well inside it client-side (40 requests of burst, 2 a second).

Returns webhooks carry little more than the return's id and status, so each one is turned into
a pull of the whole Return (``RETURN``) and mapped with ``map_return``: whatever order the
webhooks arrive in, the ledger ends with Shopify's current state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
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
from returnhub.connectors.errors import ClientError, ConfigurationError, MappingError, RateLimited
from returnhub.connectors.http import send
from returnhub.connectors.mapping import required, timestamp
from returnhub.connectors.ratelimit import TokenBucket
from returnhub.domain.external import ExternalItem, ExternalReturn
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.money import minor_units

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


# Field names per shopify.dev (Return, ReturnLineItem, LineItem; API ≥ 2023-01). returnLineItems
# is a connection of the ReturnLineItemType interface; its other kind (UnverifiedReturnLineItem,
# no order line behind it) comes back as an empty node and is left out. 50 lines is far beyond
# any real apparel return.
RETURN = """
query Return($id: ID!) {
  return(id: $id) {
    id name status createdAt closedAt requestApprovedAt
    order {
      id name email createdAt currencyCode
      customer { id email displayName phone }
    }
    returnLineItems(first: 50) {
      edges { node { ... on ReturnLineItem {
        id quantity returnReason returnReasonNote customerNote
        fulfillmentLineItem { lineItem {
          id sku title variantTitle
          originalUnitPriceSet { shopMoney { amount currencyCode } }
        } }
      } } }
    }
    refunds(first: 20) {
      nodes { createdAt totalRefundedSet { shopMoney { amount currencyCode } } }
    }
  }
}
""".strip()

SCOPES = "read_returns, read_orders and read_customers"

# CLOSED → closed, not processed: Shopify closes a return when nothing more is expected of it,
# including returns closed without any item being inspected or refunded; "processed" in the
# ledger claims an inspection Shopify does not tell us happened. A reopen moves it back to OPEN.
STATES = {
    "REQUESTED": ReturnState.REQUESTED,
    "OPEN": ReturnState.AUTHORIZED,
    "CLOSED": ReturnState.CLOSED,
    "DECLINED": ReturnState.REJECTED,
    "CANCELED": ReturnState.CANCELLED,
}


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
        try:
            response = send(
                self.http,
                "POST",
                self.url,
                json={"query": document, "variables": variables},
                headers={"X-Shopify-Access-Token": self.token},
                timeout=timeout,
            )
        except ConfigurationError as exc:
            raise ConfigurationError(
                "Shopify refused our credentials: is RETURNHUB_SHOPIFY_ACCESS_TOKEN an Admin API "
                f"access token of an app installed on the shop at RETURNHUB_SHOPIFY_BASE_URL? "
                f"({exc.message})"
            ) from None
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
            if any(_code(e) == "ACCESS_DENIED" for e in errors):
                # A missing scope is answered 200 with an error: a person must grant it.
                raise ConfigurationError(
                    f"Shopify denied access (the app needs the {SCOPES} scopes): {text}"
                )
            raise ClientError(f"Shopify GraphQL error: {text}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise MappingError("Shopify's answer has no data")
        return data

    def fetch_return(self, gid: str, timeout: float) -> dict[str, Any]:
        """The Return as Shopify has it now (``RETURN``'s fields)."""
        node = self._query(RETURN, {"id": gid}, timeout).get("return")
        if not isinstance(node, dict):
            raise ClientError(
                f"Shopify has no return {gid} (deleted, or from another shop than "
                "RETURNHUB_SHOPIFY_BASE_URL)"
            )
        return node

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


def _code(error: Any) -> str:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    return str(extensions.get("code") or "") if isinstance(extensions, dict) else ""


def return_gid(payload: Mapping[str, Any]) -> str:
    """The Return's GraphQL id from a ``returns/*`` webhook (REST-style numeric ``id`` too)."""
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith("gid://shopify/Return/"):
        return gid
    rid = payload.get("id")
    if isinstance(rid, int) or (isinstance(rid, str) and rid.isdigit()):
        return f"gid://shopify/Return/{rid}"
    raise MappingError("the Shopify returns webhook has neither admin_graphql_api_id nor an id")


def refund_return_gid(payload: Mapping[str, Any]) -> str | None:
    """The Return a ``refunds/create`` webhook refunds, or None for a refund of the order alone
    (Shopify's refund has ``return`` null then)."""
    ret = payload.get("return")
    if not isinstance(ret, Mapping):
        return None
    try:
        return return_gid(ret)
    except MappingError:
        return None


def lock_key(topic: str, payload: Mapping[str, Any]) -> str | None:
    """Events of one Return apply in order; a refund queues with the return it refunds."""
    rid: Any = payload.get("id")
    if topic == "refunds/create":
        refunded = refund_return_gid(payload)
        rid = refunded.rsplit("/", 1)[-1] if refunded else None
    return f"shopify:return:{rid}" if rid not in (None, "") else None


def map_return(node: Mapping[str, Any], fetched_at: datetime) -> ExternalReturn:
    """A pulled Return → ExternalReturn. Shopify's Return has no update time, and each pull is
    its current state (``current``), so it always wins; the pull's own time stamps it."""
    gid = str(node.get("id") or "")
    if not gid:
        raise MappingError("the Shopify return has no id")
    status = str(node.get("status") or "")
    if status not in STATES:
        raise MappingError(f"unknown Shopify return status {status!r} for {gid}")
    order = node.get("order") or {}
    customer = order.get("customer") or {}
    email = required(
        order.get("email") or customer.get("email"),
        f"Shopify return {gid}: its order has no customer email",
    ).lower()
    order_name = required(order.get("name"), f"Shopify return {gid} has no order name")
    items = []
    currencies = [str(order.get("currencyCode") or "")]
    edges = (node.get("returnLineItems") or {}).get("edges") or []
    for i, edge in enumerate(edges):
        line = edge.get("node") or {}
        if not line.get("id"):
            continue
        item = (line.get("fulfillmentLineItem") or {}).get("lineItem") or {}
        unit_price, line_currency = _shop_money(
            item.get("originalUnitPriceSet"),
            currencies[0],
            f"Shopify return {gid}: returnLineItems.{i}.originalUnitPriceSet",
        )
        currencies.append(line_currency)
        reason = str(line.get("returnReason") or "").lower()
        # One ExternalItem per unit, as every source maps them.
        items += [
            ExternalItem(
                sku=str(item.get("sku") or f"shopify-{item.get('id') or line['id']}"),
                title=str(item.get("title") or ""),
                variant=str(item.get("variantTitle") or ""),
                unit_price=unit_price,
                reason="" if reason == "unknown" else reason,
                comment=str(line.get("returnReasonNote") or line.get("customerNote") or ""),
            )
        ] * int(line.get("quantity") or 0)
    currency = next((c for c in currencies if c), "")
    if not currency:
        raise MappingError(f"Shopify return {gid}: no currency on the order or its lines")
    refunded, refunded_at = _refunds(gid, node, currency)
    return ExternalReturn(
        source=SPEC.key,
        external_id=gid,
        state=STATES[status],
        updated_at=fetched_at,
        created_at=timestamp(node.get("createdAt"), "createdAt"),
        order_name=order_name,
        customer_email=email,
        customer_name=str(customer.get("displayName") or ""),
        customer_phone=str(customer.get("phone") or ""),
        currency=currency.upper(),
        items=tuple(items),
        # What Shopify refunded, when it did; a return closed without a refund refunds nothing
        # (an exchange, or a merchant's refusal); an open one expects its items' value.
        refund_amount=refunded if refunded_at or status == "CLOSED" else None,
        reports_refunds=True,
        refund_issued_at=refunded_at,
        customer_external_id=str(customer.get("id") or ""),
        current=True,
    )


def _shop_money(bag: Any, fallback_currency: str, where: str) -> tuple[int, str]:
    """A MoneyBag's shop-currency amount as exact minor units, and that currency; a
    MappingError that names ``where`` when either is missing or unreadable."""
    money = (bag or {}).get("shopMoney") or {}
    currency = str(money.get("currencyCode") or fallback_currency).upper()
    if not currency:
        raise MappingError(f"{where}.shopMoney has no currencyCode")
    try:
        return minor_units(str(money.get("amount")), currency), currency
    except ValueError as exc:
        raise MappingError(f"{where}.shopMoney.amount: {exc}") from None


def _refunds(gid: str, node: Mapping[str, Any], currency: str) -> tuple[int, datetime | None]:
    """The total Shopify refunded for this return (shop currency) and when the latest refund
    was made; (0, None) when it has refunded nothing yet."""
    total, latest = 0, None
    for i, refund in enumerate((node.get("refunds") or {}).get("nodes") or []):
        where = f"Shopify return {gid}: refunds.{i}"
        amount, paid_in = _shop_money(
            refund.get("totalRefundedSet"), currency, f"{where}.totalRefundedSet"
        )
        if paid_in != currency.upper():
            raise MappingError(f"{where} is in {paid_in}, the return in {currency.upper()}")
        total += amount
        made = timestamp(refund.get("createdAt"), f"{where}.createdAt")
        latest = made if latest is None or made > latest else latest
    return total, latest


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
